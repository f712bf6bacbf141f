package session_test

import (
	"os"
	"runtime"
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
	var base int
	for i := 0; i < rounds; i++ {
		s, err := m.Create(session.Config{ID: "soak", Width: 1280, Height: 720})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Idle(make([]byte, 1280*720*3)); err != nil {
			t.Fatal(err)
		}
		m.CloseAll()
		if i%(rounds/10+1) == 0 {
			runtime.GC()
			r := procstat.RSSKB(0)
			if i > rounds/10 && base == 0 {
				base = r
			}
			t.Logf("round %d: RSS %d MiB", i, r/1024)
		}
	}
	runtime.GC()
	end := procstat.RSSKB(0)
	t.Logf("after %d sessions: RSS %d MiB (baseline after warm-up %d MiB)", rounds, end/1024, base/1024)
	if base > 0 && end > base*12/10 {
		t.Fatalf("RSS grew from %d to %d MiB", base/1024, end/1024)
	}
}
