package viewers

import (
	"sync"

	"github.com/avhost/avhost/internal/netopt"
)

// Client is who asks for a viewer: what its resource and the host's caps go by.
type Client struct {
	// Owner is the credential the viewer is created with ("" for none); ending it
	// through WHEP needs it (Owner).
	Owner string
	// Addr is the client's address ("host:port", as in http.Request.RemoteAddr); the
	// per-address cap counts netopt.ClientKey(Addr), so an IPv6 /64 is one client.
	Addr string
	// Credentialed: Owner admits to the session by itself (the session's viewer token
	// or the host token), as opposed to a public session's anyone. Such a viewer may
	// use the host's reserved slots and is not held to the per-address cap.
	Credentialed bool
}

// HostCaps are the host's viewer caps, across sessions and both backends; zero or
// negative fields are no cap.
type HostCaps struct {
	// Max caps viewers, handshakes in flight and unconnected ones included.
	Max int
	// Anonymous caps the viewers without a credential (Client.Credentialed false), so
	// a flood of anonymous offers leaves Max-Anonymous slots to viewers with a token.
	Anonymous int
	// PendingPerAddr caps one client address's anonymous viewers that are not yet
	// connected (handshake, ICE, DTLS): an offer that never does ICE holds its slot
	// until the connect deadline, so without it one address replaying an offer holds
	// every slot.
	PendingPerAddr int
}

// Slots holds the host's viewer caps (HostCaps), shared by every output. An output
// takes a slot under its own lock, in the same critical section as its per-session
// check and the insert of the viewer, so every cap holds under concurrency (lock
// order: output, then Slots). A nil *Slots is no cap.
type Slots struct {
	caps HostCaps

	mu      sync.Mutex
	n, anon int
	pending map[string]int // per netopt.ClientKey: anonymous viewers not yet connected
}

// NewSlots returns the host's caps.
func NewSlots(c HostCaps) *Slots { return &Slots{caps: c, pending: map[string]int{}} }

// Slot is one viewer's hold on the host's caps. Its methods are idempotent, and
// no-ops on a nil *Slot or the Slot of a nil *Slots.
type Slot struct {
	s    *Slots
	key  string
	anon bool
	// guarded by s.mu
	pending, held bool
}

// Take reserves a slot for c: ErrTooManyViewers when the host (or its anonymous
// share) is full, ErrTooManyPending when c's address already has its cap of
// unconnected viewers.
func (s *Slots) Take(c Client) (*Slot, error) {
	if s == nil {
		return &Slot{}, nil
	}
	anon := !c.Credentialed
	key := netopt.ClientKey(c.Addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.caps.Max > 0 && s.n >= s.caps.Max,
		anon && s.caps.Anonymous > 0 && s.anon >= s.caps.Anonymous:
		return nil, ErrTooManyViewers
	case anon && s.caps.PendingPerAddr > 0 && s.pending[key] >= s.caps.PendingPerAddr:
		return nil, ErrTooManyPending
	}
	s.n++
	if anon {
		s.anon++
		s.pending[key]++
	}
	return &Slot{s: s, key: key, anon: anon, pending: anon, held: true}, nil
}

// Connected says the viewer's connection is up: it no longer counts as pending.
func (t *Slot) Connected() {
	if t == nil || t.s == nil {
		return
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.unpend()
}

func (t *Slot) unpend() {
	if !t.pending {
		return
	}
	t.pending = false
	if t.s.pending[t.key]--; t.s.pending[t.key] <= 0 {
		delete(t.s.pending, t.key)
	}
}

// Release gives the slot back.
func (t *Slot) Release() {
	if t == nil || t.s == nil {
		return
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if !t.held {
		return
	}
	t.held = false
	t.unpend()
	t.s.n--
	if t.anon {
		t.s.anon--
	}
}

// InUse is the number of slots taken.
func (s *Slots) InUse() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Pending is the number of anonymous viewers of addr's client not yet connected.
func (s *Slots) Pending(addr string) int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[netopt.ClientKey(addr)]
}
