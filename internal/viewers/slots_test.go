package viewers

import (
	"errors"
	"testing"
)

// TestSlotsCapsAnonymousAndUnconnectedViewers: an address (an IPv6 /64 counted as one)
// gets its cap of unconnected anonymous viewers, and one more once a viewer connects;
// anonymous viewers stop at their share; a credential still gets the rest; a slot
// released twice counts once.
func TestSlotsCapsAnonymousAndUnconnectedViewers(t *testing.T) {
	s := NewSlots(HostCaps{Max: 5, Anonymous: 4, PendingPerAddr: 2})
	anon := func(addr string) Client { return Client{Addr: addr} }
	a, err := s.Take(anon("[2001:db8::1]:5000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(anon("[2001:db8::2]:5000")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(anon("[2001:db8::ffff]:1")); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("third unconnected viewer of one /64: %v, want ErrTooManyPending", err)
	}
	a.Connected()
	a.Connected()
	if _, err := s.Take(anon("[2001:db8::3]:5000")); err != nil {
		t.Fatalf("after one connected: %v", err)
	}
	if _, err := s.Take(anon("192.0.2.1:1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(anon("192.0.2.2:1")); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("fifth anonymous viewer: %v, want ErrTooManyViewers", err)
	}
	c, err := s.Take(Client{Owner: "tok", Addr: "192.0.2.1:1", Credentialed: true})
	if err != nil {
		t.Fatalf("a credentialed viewer with the anonymous share full: %v", err)
	}
	if _, err := s.Take(Client{Credentialed: true}); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("sixth viewer: %v, want ErrTooManyViewers", err)
	}
	c.Release()
	c.Release()
	a.Release()
	if n := s.InUse(); n != 3 {
		t.Fatalf("%d slots in use, want 3", n)
	}
	if n := s.Pending("[2001:db8::42]:9"); n != 2 {
		t.Fatalf("%d unconnected in the /64, want 2", n)
	}
}
