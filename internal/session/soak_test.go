package session_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// TestSoakSessionChurn creates and tears down 720p sessions with an idle frame and
// checks RSS stays flat (`make soak`; AVHOST_SOAK=N sets the rounds).
func TestSoakSessionChurn(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("AVHOST_SOAK"))
	if rounds == 0 {
		t.Skip("soak: run with make soak (AVHOST_SOAK=rounds)")
	}
	gsttest.Init()
	m := &session.Manager{}
	// glibc keeps freed blocks in its arenas, and x264's come in many sizes: RSS rises
	// over the first rounds and then levels off (about 200 rounds of 720p here). A leak
	// keeps rising, so the check is the second half against the first half's end.
	var half, base int
	for i := 0; i < rounds; i++ {
		s, err := m.Create(session.Config{ID: "soak", Width: 1280, Height: 720})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Idle(make([]byte, 1280*720*3)); err != nil {
			t.Fatal(err)
		}
		m.CloseAll()
		if i%(rounds/10+1) == 0 || i == rounds/2 {
			runtime.GC()
			debug.FreeOSMemory()
			r := procstat.RSSKB(0)
			if i == rounds/2 {
				half = r
			}
			if base == 0 {
				base = r
			}
			t.Logf("round %d: RSS %d MiB", i, r/1024)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	end := procstat.RSSKB(0)
	t.Logf("after %d sessions: RSS %d MiB (round 0: %d MiB, half way: %d MiB)", rounds, end/1024, base/1024, half/1024)
	if end > half*11/10 {
		t.Fatalf("RSS grew from %d MiB half way to %d MiB at the end", half/1024, end/1024)
	}
}
