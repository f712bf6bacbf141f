package rtcout

import "time"

// The ladder policy: which of the stream's video renditions one viewer gets, from
// its Google Congestion Control estimate (pion/interceptor's gcc, fed by the
// viewer's transport-wide CC feedback). It is a pure state machine — the clock and
// the estimator's figures are handed in — so tests drive it without a network.
//
// Down is fast and up is slow, as in every adaptive player: a rung that does not
// fit costs freezes at once, one that would fit costs nothing by waiting.
//
//   - Down: only on evidence of congestion (GCC's delay detector decreasing, or loss
//     above lossCongested), and then to the best rung whose need fits the estimate.
//     GCC's estimate alone is no evidence: while the viewer gets less than the link
//     carries it only grows to 1.5× what is sent (pion/interceptor's rate
//     controller), so on a clean path it sits below the rung above the one in use
//     and says nothing about the link.
//   - Up: by a probe, because of that same cap (the application-limited problem,
//     pion/interceptor #299; a talking head sends far less than its rung's rate
//     between key frames). While below the top, the viewer pads its video with RTP
//     padding, ramped over probeRamp to the next rung's need × upMargin and held
//     until probeTime. If the path shows no sign of a queue meanwhile, it carries
//     the next rung and the viewer moves up. If it does, the probe stops at once
//     and the next waits twice as long (probeBackoff doubling to maxBackoff), so a
//     viewer on a link that really is narrow probes rarely. The signs: the
//     viewer's packets waiting more than probeQueue (queuewatch.go reads the
//     transport-wide CC feedback for that itself, and the writer pauses the padding
//     on the feedback that shows it, between the policy's steps, and a second one
//     fails the probe), or GCC's congestion.
//     GCC alone was too late once the ramp became a parabola: GCC's trend is a
//     slope, which the parabola's gentle start keeps under its adaptive threshold
//     while the queue grows, so it confirmed the overuse 0.6–0.8 s after the link
//     was full, with the padding by then 350–650 kbit/s over it; tbf's queue (0.3 s
//     at 600 kbit/s, 0.5 s at 300) overflowed: 20–22 packets lost in 2 of 3 runs of
//     a Pion viewer at 600 kbit/s (with the straight ramp before it, 0 in 5). Read
//     directly, a failed probe's queue peaks at 55–155 ms (tbf at 600 and 300
//     kbit/s) and nothing is lost. (Nor is GCC's trend a good early sign: stopping
//     at twice its threshold, single readings on a clean path reached 4.3× it and
//     cost a viewer climbing back 8 s of backoff.)
//     libwebrtc instead probes in short clusters and takes the rate the feedback
//     shows them delivered at; here a token bucket's burst (tbf's 16 KB) lets a
//     whole short cluster through at line rate, so the cluster would have to
//     outlast the burst, and then overfills the queue as a ramp does. The ramp is
//     a parabola (padding): the excess over a link a little wider than the current
//     rung grows slowly, so little is in flight when the queue shows.
//     The congestion a failed probe caused is its own, not the rung's: it does not
//     move the viewer down (downSettle again, and it does not count towards
//     congestedHold, nor does the drain after a move down). (Ramping twice as slowly
//     after a failed probe made Chromium's freezes no rarer on a loaded host, and
//     took Pion viewers past the 20 s climb back.)
//   - After moving down, congestion is ignored for downSettle: the bottleneck's
//     queue still holds what the higher rung sent, and GCC (its loss-based half
//     above all) goes on decreasing while it drains, which would take the viewer a
//     second rung down for nothing. Unless the estimate falls below settleFloor ×
//     the new rung's need: the first move down reads GCC's first decrease, which
//     on a link far narrower than the rung above still says twice what the link
//     carries (measured at 300 kbit/s: 793 kbit/s, then 247 kbit/s 200 ms later and
//     135 kbit/s 600 ms later),
//     while a queue draining ahead of a rung that fits takes it to ≈0.9× (at 600
//     kbit/s). Without the floor, the viewer spent downSettle on a rung the link
//     could not carry, and Chromium showed nothing for 3 s. The floor is for a
//     move down only: a failed probe drives GCC as low (228 kbit/s on the mid
//     rung at 600 kbit/s), and its congestion is its own.
//
// A rung's need is its encoder bitrate plus audioBudget: 64 kbit/s of Opus and the
// RTP/SRTP/UDP/IP headers of both tracks (≈50 + ≈40 packets a second).
const (
	audioBudget = 100_000
	downMargin  = 0.8 // congested and the estimate below 0.8 × need: move down
	upMargin    = 1.15
	// lossCongested is GCC's average loss above which the path is congested: GCC's
	// own loss controller's threshold (it decreases above 10 %, holds from 2 %). At
	// 0.05 a viewer behind 5 % random loss, which says nothing of the link's rate
	// (Wi-Fi), was moved down whenever GCC's 200 ms average crossed it (measured:
	// 0.107 at times); a bottleneck shows in the delay trend before its drops.
	lossCongested = 0.10
	// congestedHold moves down also when congestion lasts this long, though the
	// estimate stays above downMargin × need: a link a little narrower than the rung
	// keeps GCC decreasing to 0.85 × what arrives without ever dropping below it.
	congestedHold = 2 * time.Second
	probeTime     = 2500 * time.Millisecond // the ramp and a hold at full padding
	probeRamp     = 2 * time.Second
	downSettle    = 2 * time.Second
	settleFloor   = 0.5
	probeBackoff  = 3 * time.Second
	maxBackoff    = 8 * time.Second
	// probeQueue: a probe whose packets wait longer has filled the path's queue.
	// Over the jitter of a receiver on a busy host (queuewatch.go reads the least
	// of the last packets reported), under any bottleneck's queue worth having.
	probeQueue = 30 * time.Millisecond
	// queuedReadings: a probe fails on the second feedback showing a queue (the
	// first pauses its padding); one can be a descheduled process's (queuewatch.go).
	queuedReadings = 2
	// probeAgain is the wait for the next probe after one succeeded: the path had
	// room to spare, so the rung above may fit too.
	probeAgain = time.Second
)

// rung is one rendition as the policy sees it.
type rung struct {
	name string
	bps  int // encoder bitrate
}

func (r rung) need() int { return r.bps + audioBudget }

// signal is what the estimator says at one instant.
type signal struct {
	estimate  int  // GCC target bitrate, bit/s
	congested bool // decreasing on delay, or losing more than lossCongested
	queued    int  // feedbacks that showed the viewer's packets waiting more than probeQueue (queuewatch.go)
}

// policy is one viewer's position on the ladder.
type policy struct {
	rungs []rung // best first
	cur   int

	congestedSince time.Time // zero while not congested
	probeStart     time.Time
	probeUntil     time.Time // zero while not probing
	quietUntil     time.Time // congestion moves no one down before (after a down move or a failed probe)
	probeFailed    bool      // the quiet time is a failed probe's: no settleFloor
	queued         int       // feedbacks in this probe that showed a queue
	nextProbe      time.Time
	backoff        time.Duration
}

func newPolicy(rungs []rung, now time.Time) *policy {
	return &policy{rungs: rungs, backoff: probeBackoff, nextProbe: now.Add(probeBackoff)}
}

// step takes the estimator's signal at now and returns the rung to be on and the
// padding (bit/s) to send now: non-zero while probing.
func (p *policy) step(now time.Time, s signal) (rung int, pad int) {
	if !p.probeUntil.IsZero() {
		p.queued += s.queued
	}
	if !p.probeUntil.IsZero() && (s.congested || p.queued >= queuedReadings) { // the path does not carry the next rung
		p.probeUntil = time.Time{}
		p.backoff = min(2*p.backoff, maxBackoff)
		p.nextProbe = now.Add(p.backoff)
		p.quietUntil, p.probeFailed = now.Add(downSettle), true
		return p.cur, 0
	}
	if s.congested {
		if p.congestedSince.IsZero() {
			p.congestedSince = now
		}
		p.nextProbe = now.Add(p.backoff)
		need := p.rungs[p.cur].need()
		if now.Before(p.quietUntil) && p.probeFailed {
			p.congestedSince = time.Time{} // the probe's own congestion does not count towards congestedHold
			return p.cur, 0
		}
		if now.Before(p.quietUntil) && float64(s.estimate) >= settleFloor*float64(need) {
			p.congestedSince = time.Time{} // nor does the drain after a move down
			return p.cur, 0
		}
		if p.cur < len(p.rungs)-1 && (float64(s.estimate) < downMargin*float64(need) || now.Sub(p.congestedSince) >= congestedHold) {
			i := p.cur + 1
			for i < len(p.rungs)-1 && p.rungs[i].need() > s.estimate {
				i++
			}
			p.cur, p.quietUntil, p.probeFailed = i, now.Add(downSettle), false
			p.congestedSince = time.Time{} // the new rung gets its own chance
		}
		return p.cur, 0
	}
	p.congestedSince = time.Time{}
	if p.cur == 0 {
		return 0, 0
	}
	if !p.probeUntil.IsZero() {
		if now.Before(p.probeUntil) {
			return p.cur, p.padding(now)
		}
		p.probeUntil = time.Time{}
		p.cur--
		p.backoff = probeBackoff
		p.nextProbe = now.Add(probeAgain)
		return p.cur, 0
	}
	if !now.Before(p.nextProbe) {
		p.probeStart, p.probeUntil, p.queued = now, now.Add(probeTime), 0
		return p.cur, p.padding(now)
	}
	return p.cur, 0
}

// padding is what brings the current rung's need up to the next rung's × upMargin,
// ramped over probeRamp from the probe's start. The ramp is a parabola, not a line: a
// link that does not carry the next rung is mostly one a little above the current
// one, crossed early in the ramp, where a parabola's slope is small; what is in
// flight when the queue shows grows with that slope.
func (p *policy) padding(now time.Time) int {
	full := upMargin*float64(p.rungs[p.cur-1].need()) - float64(p.rungs[p.cur].need())
	r := min(1, float64(now.Sub(p.probeStart)+adaptInterval)/float64(probeRamp))
	return int(full * r * r)
}
