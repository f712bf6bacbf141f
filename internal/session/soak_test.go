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
	// over the first rounds, then wanders ±20 MiB between samples without a trend (2,000
	// rounds of 720p here). A leak keeps rising, so the check is the mean of the last
	// two fifths of the samples against the mean of the two fifths before them.
	var samples []int
	every := rounds/40 + 1
	for i := 0; i < rounds; i++ {
		s, err := m.Create(session.Config{ID: "soak", Width: 1280, Height: 720})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Idle(make([]byte, 1280*720*3)); err != nil {
			t.Fatal(err)
		}
		m.CloseAll()
		if i%every == 0 {
			runtime.GC()
			debug.FreeOSMemory()
			samples = append(samples, procstat.RSSKB(0))
		}
	}
	mean := func(xs []int) int {
		sum := 0
		for _, x := range xs {
			sum += x
		}
		return sum / max(len(xs), 1)
	}
	n := len(samples)
	mid, end := mean(samples[n/5:3*n/5]), mean(samples[3*n/5:])
	t.Logf("after %d sessions: RSS %d MiB at round 0, mean %d MiB over rounds %d–%d, mean %d MiB over the rest",
		rounds, samples[0]/1024, mid/1024, n/5*every, 3*n/5*every, end/1024)
	if end > mid*12/10 {
		t.Fatalf("RSS grew from a mean of %d MiB to %d MiB", mid/1024, end/1024)
	}
}
