package session_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

func fds(t *testing.T) int {
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(e)
}

// settle waits (bounded) for the count to come back to at most want: GStreamer's
// streaming threads and Go's goroutines end shortly after Close returns.
func settle(want int, count func() int) int {
	n := count()
	for deadline := time.Now().Add(5 * time.Second); n > want && time.Now().Before(deadline); n = count() {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

func TestTeardownLeavesNothingBehind(t *testing.T) {
	gsttest.Init()
	m := &session.Manager{}
	// A first session warms up GStreamer's one-time threads and caches.
	s, err := m.Create(session.Config{ID: "warm"})
	if err != nil {
		t.Fatal(err)
	}
	m.Close(s.ID)
	g0, f0 := runtime.NumGoroutine(), fds(t)
	for round := 0; round < 3; round++ {
		for _, id := range []string{"a", "b", "c", "d"} {
			if _, err := m.Create(session.Config{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		if len(m.List()) != 4 {
			t.Fatalf("listed %d sessions", len(m.List()))
		}
		m.CloseAll()
	}
	if g := settle(g0, runtime.NumGoroutine); g > g0 {
		t.Fatalf("goroutines: %d before, %d after 12 sessions came and went", g0, g)
	}
	if f := settle(f0, func() int { return fds(t) }); f > f0 {
		t.Fatalf("file descriptors: %d before, %d after", f0, f)
	}
	if len(m.List()) != 0 {
		t.Fatal("sessions left")
	}
}

func TestCreateRefusesBadConfigAndDuplicates(t *testing.T) {
	gsttest.Init()
	m := &session.Manager{MaxSessions: 1}
	for _, c := range []session.Config{{ID: ""}, {ID: "x y"}, {ID: "a", Width: 5}, {ID: "a", FPS: "0"}, {ID: "a", Format: "NV12"}} {
		if _, err := m.Create(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := m.Create(session.Config{ID: "one"}); err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	if _, err := m.Create(session.Config{ID: "one"}); err != session.ErrExists {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := m.Create(session.Config{ID: "two"}); err != session.ErrLimit {
		t.Fatalf("over the cap: %v", err)
	}
}
