package rtcout

import (
	"testing"
	"time"
)

var testRungs = []rung{{"top", 1_500_000}, {"mid", 400_000}, {"low", 150_000}}

// run steps p every 200 ms for d with signal s, returning the last rung and
// whether any step padded (probed).
func run(p *policy, now *time.Time, d time.Duration, s signal) (cur int, probed bool) {
	for end := now.Add(d); now.Before(end); *now = now.Add(adaptInterval) {
		var pad int
		cur, pad = p.step(*now, s)
		probed = probed || pad > 0
	}
	return cur, probed
}

func TestLadderPolicy(t *testing.T) {
	t.Run("a clean path with an app-limited estimate stays on the top rung", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		if cur, probed := run(p, &now, time.Minute, signal{estimate: 900_000}); cur != 0 || probed {
			t.Fatalf("rung %d, probed %v", cur, probed)
		}
	})
	t.Run("one congested reading near the rung's rate does not move a viewer", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		if cur, _ := p.step(now, signal{estimate: 1_400_000, congested: true}); cur != 0 {
			t.Fatalf("moved to rung %d on one decrease to 0.85× the sent rate", cur)
		}
	})
	t.Run("congestion at a 600 kbit/s estimate moves down at once to the rung that fits", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		if cur, _ := p.step(now, signal{estimate: 510_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d, want mid", cur)
		}
		// The bottleneck's queue drains: GCC goes on decreasing for a while.
		if cur, _ := run(p, &now, downSettle-adaptInterval, signal{estimate: 300_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d while the queue drains, want mid", cur)
		}
		if cur, _ := run(p, &now, 2*adaptInterval, signal{estimate: 200_000, congested: true}); cur != 2 {
			t.Fatalf("rung %d after congestion outlasting %v, want low", cur, downSettle)
		}
	})
	t.Run("an estimate far below the new rung's need moves down again without waiting", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		// GCC's first decrease on a 300 kbit/s link still reads 800 kbit/s...
		if cur, _ := p.step(now, signal{estimate: 800_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d, want mid", cur)
		}
		// ...and the next 240 kbit/s: the mid rung (500 kbit/s with audio) cannot fit.
		now = now.Add(adaptInterval)
		if cur, _ := p.step(now, signal{estimate: 240_000, congested: true}); cur != 2 {
			t.Fatalf("rung %d, want low", cur)
		}
	})
	t.Run("congestion that lasts moves down though the estimate stays close", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		if cur, _ := run(p, &now, congestedHold+adaptInterval, signal{estimate: 1_400_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d after %v of congestion", cur, congestedHold)
		}
	})
	t.Run("below the top a clean path probes and climbs back within 20 s", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 200_000, congested: true})
		start := now
		for p.cur != 0 && now.Sub(start) < time.Minute {
			run(p, &now, adaptInterval, signal{estimate: 500_000})
		}
		if p.cur != 0 || now.Sub(start) > 20*time.Second {
			t.Fatalf("rung %d after %v", p.cur, now.Sub(start))
		}
		t.Logf("low to top in %v", now.Sub(start))
	})
	t.Run("a probe ramps its padding up to the next rung's need", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 510_000, congested: true})
		last := 0
		for end := now.Add(time.Minute); now.Before(end); now = now.Add(adaptInterval) {
			if _, pad := p.step(now, signal{estimate: 600_000}); pad < last {
				t.Fatalf("padding fell from %d to %d within a probe", last, pad)
			} else if last = pad; pad > 0 && now.Sub(p.probeStart) >= probeRamp {
				break
			}
		}
		if full := int(upMargin*1_600_000) - 500_000; last < full-1 || last > full {
			t.Fatalf("padding %d after the ramp, want %d", last, full)
		}
	})
	t.Run("a failed probe does not move the viewer down", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 510_000, congested: true})
		for pad := 0; pad == 0; now = now.Add(adaptInterval) {
			_, pad = p.step(now, signal{estimate: 600_000})
		}
		// The probe overfills the link: GCC decreases well below the rung's need
		// (measured: 228 kbit/s on the mid rung under a 600 kbit/s limit).
		if cur, _ := run(p, &now, downSettle-adaptInterval, signal{estimate: 220_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d after a failed probe, want mid", cur)
		}
		// Its loss average decays slowly: the congestion it left does not count
		// towards congestedHold (the estimate back near the rung's need).
		if cur, _ := run(p, &now, congestedHold-2*adaptInterval, signal{estimate: 450_000, congested: true}); cur != 1 {
			t.Fatalf("rung %d right after a failed probe's quiet time, want mid", cur)
		}
	})
	t.Run("a probe that fills the path's queue stops before GCC sees it and the next waits longer", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 510_000, congested: true})
		for pad := 0; pad == 0; now = now.Add(adaptInterval) {
			_, pad = p.step(now, signal{estimate: 600_000})
		}
		if cur, pad := p.step(now, signal{estimate: 600_000, queued: 2}); cur != 1 || pad != 0 {
			t.Fatalf("rung %d, padding %d after two feedbacks showing a queue", cur, pad)
		}
		if got := p.nextProbe.Sub(now); got != 2*probeBackoff {
			t.Fatalf("next probe in %v, want %v", got, 2*probeBackoff)
		}
	})
	t.Run("one feedback showing a queue does not stop a probe, a second later in it does", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 510_000, congested: true})
		for pad := 0; pad == 0; now = now.Add(adaptInterval) {
			_, pad = p.step(now, signal{estimate: 600_000})
		}
		// A descheduled receiver stamps one feedback's packets late.
		if _, pad := p.step(now, signal{estimate: 600_000, queued: 1}); pad == 0 {
			t.Fatal("one late feedback stopped the probe")
		}
		now = now.Add(adaptInterval)
		if _, pad := p.step(now, signal{estimate: 600_000}); pad == 0 {
			t.Fatal("the probe stopped after one late feedback")
		}
		now = now.Add(adaptInterval)
		if cur, pad := p.step(now, signal{estimate: 600_000, queued: 1}); cur != 1 || pad != 0 {
			t.Fatalf("rung %d, padding %d after a second feedback showing a queue", cur, pad)
		}
		// The next probe starts its count afresh.
		for pad := 0; pad == 0; now = now.Add(adaptInterval) {
			_, pad = p.step(now, signal{estimate: 600_000})
		}
		if _, pad := p.step(now, signal{estimate: 600_000, queued: 1}); pad == 0 {
			t.Fatal("the last probe's count carried over")
		}
	})
	t.Run("a probe that meets congestion stops and the next waits longer", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 510_000, congested: true})
		var probes []time.Time
		for end := now.Add(time.Minute); now.Before(end); now = now.Add(adaptInterval) {
			_, pad := p.step(now, signal{estimate: 550_000})
			if pad > 0 {
				if full := int(upMargin*1_600_000) - 500_000; pad <= 0 || pad > full/2 {
					t.Fatalf("padding %d at the start of a probe (full: %d)", pad, full)
				}
				probes = append(probes, now)
				now = now.Add(adaptInterval) // the feedback comes back congested
				if cur, pad := p.step(now, signal{estimate: 500_000, congested: true}); cur != 1 || pad != 0 {
					t.Fatalf("rung %d, padding %d after a failed probe", cur, pad)
				}
			}
		}
		if len(probes) < 3 {
			t.Fatalf("%d probes in a minute", len(probes))
		}
		for i := 2; i < len(probes); i++ {
			if gap, prev := probes[i].Sub(probes[i-1]), probes[i-1].Sub(probes[i-2]); gap < prev && gap < maxBackoff {
				t.Errorf("probe gaps shrank: %v then %v", prev, gap)
			}
		}
		t.Logf("failed probes at %v", probes)
	})
	t.Run("a link that opens just after a failed probe is climbed within 20 s", func(t *testing.T) {
		now := time.Unix(0, 0)
		p := newPolicy(testRungs, now)
		p.step(now, signal{estimate: 200_000, congested: true})
		for failed := 0; failed < 4; now = now.Add(adaptInterval) { // backoff at its longest
			if _, pad := p.step(now, signal{estimate: 300_000}); pad > 0 {
				now = now.Add(adaptInterval)
				p.step(now, signal{estimate: 200_000, congested: true})
				failed++
			}
		}
		start := now
		for p.cur != 0 && now.Sub(start) < time.Minute {
			run(p, &now, adaptInterval, signal{estimate: 500_000})
		}
		if p.cur != 0 || now.Sub(start) > 20*time.Second {
			t.Fatalf("rung %d after %v", p.cur, now.Sub(start))
		}
		t.Logf("low to top in %v after four failed probes", now.Sub(start))
	})
}
