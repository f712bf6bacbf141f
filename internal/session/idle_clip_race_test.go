package session_test

import (
	"sync"
	"testing"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// Two connections may feed one session's upload at once (a resume takes a session
// over while the old connection's last messages are still read): frames from both,
// the clip shown by whichever sets the last. The clip's bytes are reserved once; and
// under -race (go test -race -run IdleClipFramesFrom ./internal/session) no part of
// an upload is read outside the session's lock (its length was, while the other
// goroutine showed it).
func TestIdleClipFramesFromTwoGoroutines(t *testing.T) {
	gsttest.Init()
	m := &session.Manager{}
	s, err := m.Create(session.Config{ID: "race", Width: 16, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	frame := make([]byte, 16*16*3)
	const n = 4
	for round := 0; round < 300; round++ {
		if err := s.BeginIdleClip(n); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					s.IdleClipFrame(i, frame) // either may show the clip; the other's later frames are refused
				}
			}()
		}
		wg.Wait()
	}
	if got, want := m.Reserved()-mustCost(t, session.Config{ID: "race", Width: 16, Height: 16}), int64(n*16*16*3); got != want {
		t.Fatalf("%d bytes reserved for the clip shown, want %d", got, want)
	}
}

func mustCost(t *testing.T, c session.Config) int64 {
	t.Helper()
	cost, err := session.Cost(c)
	if err != nil {
		t.Fatal(err)
	}
	return cost
}
