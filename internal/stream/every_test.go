package stream

import (
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// TestSubscribeEveryDeliversInBatches: a batched reader gets every unit of both
// tracks, in order, no more than a period (and a scheduling slack) late, and drops
// nothing with a queue that holds a period's units.
func TestSubscribeEveryDeliversInBatches(t *testing.T) {
	p := gsttest.Pipeline(t, encodes)
	s, err := New(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var c collector
	late := make(chan time.Duration, 1024)
	r, err := s.SubscribeEvery("", 64, 100*time.Millisecond, func(u *Unit) {
		if now, ok := s.RunningTime(); ok {
			select {
			case late <- now - u.RT:
			default:
			}
		}
		c.add(u)
	})
	if err != nil {
		t.Fatal(err)
	}
	gsttest.Play(t, p)
	deadline := time.After(10 * time.Second)
	for len(c.got()) < 150 {
		select {
		case <-deadline:
			t.Fatalf("only %d units in 10 s", len(c.got()))
		case <-time.After(50 * time.Millisecond): // polling the collector; bounded
		}
	}
	r.Close()
	units := c.got()
	if n, _ := gaps(t, "batched", units, true); n != 0 || r.Drops() != 0 {
		t.Fatalf("video gaps %d, drops %d", n, r.Drops())
	}
	if n, _ := gaps(t, "batched", units, false); n != 0 {
		t.Fatalf("audio gaps %d", n)
	}
	close(late)
	var worst time.Duration
	for d := range late {
		worst = max(worst, d)
	}
	if worst > 400*time.Millisecond {
		t.Fatalf("a unit reached the batched reader %v after its running time", worst)
	}
	t.Logf("%d units, latest %v after their running time", len(units), worst)
}
