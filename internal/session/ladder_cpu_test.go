package session_test

import (
	"testing"
	"time"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// A session with the ladder on and no viewer on a lower rung encodes only the top
// rung: its CPU is that of a session with the ladder off (the closed valves drop
// each raw frame before any scaler or encoder), and its memory estimate counts the
// two lower encoders. Four 512×512 sessions with the demo avatar, 3 s each way,
// alternated so that a busy neighbour on the host hits both.
func TestLadderIdleCostsNoCPU(t *testing.T) {
	testenv.Long(t)
	gsttest.Init()
	on, _ := session.Cost(session.Config{ID: "x", Ladder: "on"})
	off, _ := session.Cost(session.Config{ID: "x", Ladder: "off"})
	t.Logf("memory estimate of a 512×512 session: %d MiB with the ladder, %d MiB without", on>>20, off>>20)
	if on <= off {
		t.Errorf("the ladder's encoders are not counted: %d ≤ %d", on, off)
	}
	measure := func(ladder string) time.Duration {
		m := &session.Manager{MaxSessions: 4, MemoryBudget: -1}
		var avs []*demo.Avatar
		for _, id := range []string{"a", "b", "c", "d"} {
			s, err := m.Create(session.Config{ID: id, Ladder: ladder})
			if err != nil {
				t.Fatal(err)
			}
			av, err := demo.Start(s, 0)
			if err != nil {
				t.Fatal(err)
			}
			avs = append(avs, av)
		}
		defer func() {
			for _, av := range avs {
				av.Stop()
			}
			m.CloseAll()
		}()
		time.Sleep(time.Second) // past start-up, not synchronisation
		c0 := procstat.CPU()
		time.Sleep(3 * time.Second) // the measured span
		return procstat.CPU() - c0
	}
	var sumOn, sumOff time.Duration
	for i := 0; i < 2; i++ {
		sumOff += measure("off")
		sumOn += measure("on")
	}
	t.Logf("CPU of 4 idle 512×512 sessions over 2×3 s: %v with the ladder, %v without (%.2f×)",
		sumOn.Round(time.Millisecond), sumOff.Round(time.Millisecond), float64(sumOn)/float64(sumOff))
	if float64(sumOn) > 1.25*float64(sumOff) {
		t.Errorf("the idle ladder costs CPU: %v against %v", sumOn, sumOff)
	}
}
