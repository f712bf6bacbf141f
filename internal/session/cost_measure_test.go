package session_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/gstpush"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// TestMeasureSessionCost prints the RSS a live session adds at three sizes, with the
// demo avatar speaking and its queues near empty: the figures behind session.Cost's
// base and per-pixel terms. Run with AVHOST_MEASURE=WxH, one size per process (a
// process that has run bigger sessions keeps some of their memory).
func TestMeasureSessionCost(t *testing.T) {
	var sz [2]int
	if _, err := fmt.Sscanf(os.Getenv("AVHOST_MEASURE"), "%dx%d", &sz[0], &sz[1]); err != nil {
		t.Skip("measurement: AVHOST_MEASURE=WxH")
	}
	gsttest.Init()
	const n = 4
	{
		m := &session.Manager{MemoryBudget: -1}
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := procstat.RSSKB(0)
		var ss []*session.Session
		for i := 0; i < n; i++ {
			s, err := m.Create(session.Config{ID: fmt.Sprintf("m%d", i), Width: sz[0], Height: sz[1]})
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		time.Sleep(8 * time.Second) // the measurement window: encoders reach steady state
		rss1 := procstat.RSSKB(0)
		// Then the demo avatar speaking back to back: its frames queue 3 s at a time.
		var avatars []*demo.Avatar
		for _, s := range ss {
			a, err := demo.Start(s, 3100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			avatars = append(avatars, a)
		}
		time.Sleep(8 * time.Second)
		rss2 := procstat.RSSKB(0)
		for _, a := range avatars {
			a.Stop()
		}
		// Then idle again, the avatars' drawn faces dropped: what a session keeps. An
		// interrupt ends what still plays (4K sessions fall behind on 2 cores).
		avatars = nil
		for _, s := range ss {
			s.Interrupt()
			waitQuiet(t, s)
		}
		// The burst's frame memory lingers for the next utterance, then goes back.
		time.Sleep(gstpush.PoolLinger + time.Second)
		runtime.GC()
		debug.FreeOSMemory()
		rss3 := procstat.RSSKB(0)
		m.CloseAll()
		est, err := session.Cost(session.Config{ID: "x", Width: sz[0], Height: sz[1]})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%dx%d: %d MiB RSS per session idle, %d MiB with the demo speaking, %d MiB idle after speaking (estimate with full queues %d MiB)",
			sz[0], sz[1], (rss1-rss0)/1024/n, (rss2-rss0)/1024/n, (rss3-rss0)/1024/n, est>>20)
	}
}

// waitQuiet waits until s has no utterance audio or frames queued: the demo queues
// 3 s of both at once. Stats have nothing to wait on, so it polls, with a deadline.
func waitQuiet(t testing.TB, s *session.Session) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := s.Stats()
		if st.Video.QueuedNow == 0 && st.Audio.QueuedSamples == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still playing after 15 s: %+v", s.ID, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
