package rtcout

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestHostileViewerSwitchRate: a viewer writes its own feedback, so it chooses
// GCC's signal at every step. Each switch costs the host a key frame, and may open
// a lower rendition's encoder (the first viewer on it) or close one. However the
// viewer plays it, a switch up waits for a probe (probeTime, and probeAgain after
// the last), and there is no way down without first coming up, so it switches at
// most twice per probeAgain+probeTime (3.5 s).
func TestHostileViewerSwitchRate(t *testing.T) {
	const span = 10 * time.Minute
	limit := 2*int(span/(probeAgain+probeTime)) + 2
	signals := []signal{
		{estimate: 4_000_000},                // clean: a probe succeeds
		{estimate: 100_000, congested: true}, // congested: straight to the bottom
		{estimate: 500_000, congested: true}, // congested: to the rung that fits
		{estimate: 4_000_000, queued: 2},     // a queue: the probe fails
	}
	// greedy: at each step the signal that switches now, if any, else a clean one.
	greedy := func(p *policy, now time.Time, _ *rand.Rand) signal {
		for _, s := range signals[1:3] {
			q := *p
			if i, _ := q.step(now, s); i != p.cur {
				return s
			}
		}
		return signals[0]
	}
	random := func(_ *policy, _ time.Time, r *rand.Rand) signal { return signals[r.IntN(len(signals))] }
	mostlyClean := func(_ *policy, _ time.Time, r *rand.Rand) signal {
		if r.IntN(20) == 0 {
			return signals[1]
		}
		return signals[0]
	}
	for _, k := range []struct {
		name string
		play func(*policy, time.Time, *rand.Rand) signal
	}{{"greedy", greedy}, {"random", random}, {"mostly clean", mostlyClean}} {
		r := rand.New(rand.NewPCG(1, 2))
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		switches, opens := 0, 0
		users := []int{1, 0, 0} // the top rung always has another viewer
		for end := now.Add(span); now.Before(end); now = now.Add(adaptInterval) {
			was := p.cur
			if i, _ := p.step(now, k.play(p, now, r)); i != was {
				switches++
				if users[i] == 0 {
					opens++
				}
				users[i]++
				users[was]--
			}
		}
		t.Logf("%-12s %3d switches in %v (%4.1f a minute), %3d lower encoders opened; limit %d",
			k.name, switches, span, float64(switches)/span.Minutes(), opens, limit)
		if switches > limit {
			t.Errorf("%s: %d switches in %v, want at most %d", k.name, switches, span, limit)
		}
	}
}
