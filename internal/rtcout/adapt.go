package rtcout

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/stream"
)

// adaptInterval is how often a viewer's policy reads its estimator: GCC updates on
// every feedback (≈100 ms apart), so a congested viewer moves down within a few
// hundred ms of the estimator seeing it.
const adaptInterval = 200 * time.Millisecond

// lossSmoothing averages GCC's loss over ≈1 s of readings (an exponential average
// with a time constant of 5 adaptIntervals: 1 − e^(−1/5)).
const lossSmoothing = 0.18

// adapter is one viewer's congestion control: its estimator, its policy, and the
// figures the metrics read. The estimator is set once, while NewPeerConnection
// builds the viewer's interceptors (before any other goroutine of the viewer runs).
type adapter struct {
	est   cc.BandwidthEstimator // nil: the API has no estimator
	twcc  bool                  // the viewer negotiated transport-wide CC feedback
	rungs []rung

	estimate   atomic.Int64 // bit/s, the latest read
	rendition  atomic.Int32 // index in rungs being delivered
	pad        atomic.Int64 // bit/s of padding the writer adds: a probe
	ups, downs atomic.Uint64
}

// ladderOf is the stream's renditions as rungs, or nil when there is only one (or
// their bitrates are not known): no adaptation then.
func ladderOf(st *stream.Stream) []rung {
	names := st.Renditions()
	if len(names) < 2 {
		return nil
	}
	rs := make([]rung, len(names))
	for i, n := range names {
		if rs[i] = (rung{name: n, bps: st.Bitrate(n)}); rs[i].bps <= 0 {
			return nil
		}
	}
	return rs
}

// negotiatedTWCC reports whether s's parameters carry the transport-wide CC
// extension: a receiver that offered it sends the feedback GCC needs. One that did
// not (older or minimal clients) gets no estimate and stays on the top rendition.
func negotiatedTWCC(s *webrtc.RTPSender) bool {
	for _, h := range s.GetParameters().HeaderExtensions {
		if h.URI == twccURI {
			return true
		}
	}
	return false
}

const twccURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// runAdapt runs the viewer's policy until done: it moves the reader between
// renditions (Reader.Switch: at the new one's next key frame, which it asks for)
// and sets the probe padding the writer sends.
func (v *viewer) runAdapt() {
	defer v.wg.Done()
	a := v.net
	pol := newPolicy(a.rungs, time.Now())
	t := time.NewTicker(adaptInterval)
	defer t.Stop()
	var lossAvg float64
	for {
		select {
		case <-v.done:
			return
		case <-t.C:
		}
		if !v.connected.Load() {
			continue
		}
		s := signal{estimate: a.est.GetTargetBitrate()}
		st := a.est.GetStats()
		loss, _ := st["averageLoss"].(float64)
		state, _ := st["state"].(string)
		// GCC's loss average has a 200 ms time constant: over a talking head's few
		// packets per feedback, random loss of 5 % makes it swing 0–14 % (measured),
		// and each swing over lossCongested moved the viewer down. Averaged over
		// about a second it stays near the path's real loss, and a bottleneck
		// dropping what does not fit still crosses it within a few readings.
		lossAvg += lossSmoothing * (loss - lossAvg)
		s.congested = state == "decrease" || lossAvg > lossCongested
		queued, overs := v.watch.take()
		s.queued = overs
		a.estimate.Store(int64(s.estimate))
		if v.o.cfg.Log.Enabled(context.Background(), slog.LevelDebug) { // 5 a second per viewer: built only when wanted
			est, _ := st["delayEstimate"].(float64)
			thr, _ := st["delayThreshold"].(float64)
			v.o.cfg.Log.Debug("viewer estimate", "viewer", v.id, "estimate", s.estimate, "state", state, "loss", loss,
				"loss_avg", lossAvg, "trend", est, "threshold", thr, "queued_ms", queued.Milliseconds(), "rung", pol.cur, "pad", a.pad.Load())
		}
		was := pol.cur
		i, pad := pol.step(time.Now(), s)
		a.pad.Store(int64(pad))
		if i != was {
			v.feed.Switch(a.rungs[i].name)
		}
	}
}

// videoWriter is a viewer's video track seen as one RTP stream, whichever rendition
// feeds it: the renditions share an RTP timestamp origin (stream.New), but each has
// its own sequence numbers, so the writer renumbers every packet into the viewer's
// own run (RFC 3550 §5.1: the receiver sees one source with one sequence) and adds
// the probe's padding packets to it. It runs on the viewer's reader goroutine only.
type videoWriter struct {
	t    *webrtc.TrackLocalStaticRTP
	v    *viewer
	seq  uint16
	ts   uint32
	cur  string
	last time.Time // of the last padding sent
	owed float64   // padding bytes due
}

func newVideoWriter(t *webrtc.TrackLocalStaticRTP, v *viewer) *videoWriter {
	return &videoWriter{t: t, v: v, seq: uint16(rand.Uint32())}
}

// padPacket is the most padding one RTP packet carries: its last byte counts the
// padding, itself included (RFC 3550 §5.1).
const padPacket = 255

func (w *videoWriter) write(u *stream.Unit) {
	if u.Rendition != w.cur {
		if w.cur != "" {
			w.v.switched(w.cur, u.Rendition)
		}
		w.cur = u.Rendition
	}
	now := time.Now()
	g := w.v.gate
	ext := w.v.vcap.payload(u.NTP)
	for i, p := range u.Packets {
		w.seq++
		h := p.Header // the unit's packets are shared: a copy of the header is changed
		h.SequenceNumber = w.seq
		w.v.vcap.stamp(&h, ext)
		if g != nil {
			g.record(w.seq, h.MarshalSize()+len(p.Payload), false, u.Key && i == 0, now)
		}
		w.t.WriteRTP(&rtp.Packet{Header: h, Payload: p.Payload})
		w.ts = h.Timestamp
	}
	a := w.v.net
	if a == nil {
		return
	}
	pad := a.pad.Load()
	if w.v.watch.filling() { // the probe may fill a queue: it pauses now, not at the policy's next step
		pad = 0
	}
	if pad <= 0 || w.last.IsZero() {
		w.last, w.owed = now, 0
		return
	}
	// Padding follows a frame's last packet, on its timestamp, so it never sits
	// inside an access unit; a frame interval's worth at a time.
	w.owed += float64(pad) / 8 * now.Sub(w.last).Seconds()
	w.last = now
	for n := 0; w.owed >= padPacket && n < 64; n++ {
		w.seq++
		if g != nil {
			g.record(w.seq, 12+padPacket, true, false, now)
		}
		w.t.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: padPacket,
			SequenceNumber: w.seq, Timestamp: w.ts}})
		w.owed -= padPacket
	}
}

// switched logs and counts a move of the viewer's video between renditions.
func (v *viewer) switched(from, to string) {
	a := v.net
	if a == nil {
		return
	}
	idx := func(n string) int {
		for i, r := range a.rungs {
			if r.name == n {
				return i
			}
		}
		return -1
	}
	i := idx(to)
	a.rendition.Store(int32(i))
	if i > idx(from) {
		a.downs.Add(1)
		v.o.downs.Add(1)
	} else {
		a.ups.Add(1)
		v.o.ups.Add(1)
	}
	v.o.cfg.Log.Info("viewer rendition", "viewer", v.id, "from", from, "to", to,
		"estimate_kbps", a.estimate.Load()/1000, "after", time.Since(v.joined).Round(time.Millisecond))
}

// NetStats are a session's Pion viewers' network figures, aggregated (per-viewer
// labels would grow /metrics with every viewer).
type NetStats struct {
	// ByRendition counts connected viewers per video rendition being delivered.
	ByRendition map[string]int
	// Estimates are the bandwidth estimates (bit/s) of the connected viewers that
	// send transport-wide CC feedback.
	Estimates []int64
	// Ups and Downs count rendition switches since the session started.
	Ups, Downs uint64
	// NACKed counts video sequence numbers viewers asked to be resent, Refused those
	// the gate did not let through (too old, padding, over budget), ResentBytes an
	// upper bound of the bytes resent; since the session started.
	NACKed, Refused, ResentBytes uint64
	// RefusedBy splits Refused by why (RefusalNames).
	RefusedBy [nRefusals]uint64
	// RTTs are the connected viewers' latest round trips, from their receiver reports
	// (viewers without one yet are left out); VideoLoss and AudioLoss each viewer's
	// fraction of packets lost in its last report interval (likewise).
	RTTs                 []time.Duration
	VideoLoss, AudioLoss []float64
	// KeyframeRequests counts PLIs and FIRs from viewers since the session started.
	KeyframeRequests uint64
}

// NetStats reads every connected viewer's figures.
func (o *Output) NetStats() NetStats {
	ns := NetStats{ByRendition: map[string]int{}, Ups: o.ups.Load(), Downs: o.downs.Load(),
		NACKed: o.nacked.Load(), Refused: o.refused.Load(), ResentBytes: o.resent.Load(),
		KeyframeRequests: o.keyframeRqs.Load()}
	for i := range ns.RefusedBy {
		ns.RefusedBy[i] = o.refusedBy[i].Load()
	}
	o.mu.Lock()
	vs := make([]*viewer, 0, len(o.viewers))
	for _, v := range o.viewers {
		vs = append(vs, v)
	}
	o.mu.Unlock()
	for _, v := range vs {
		if g := v.gate; g != nil && !v.gone.Load() {
			ns.NACKed += g.nacked.Load()
			ns.Refused += g.refused.Load()
			for i := range ns.RefusedBy {
				ns.RefusedBy[i] += g.refusedBy[i].Load()
			}
			ns.ResentBytes += g.resent.Load()
		}
		if !v.gone.Load() {
			ns.KeyframeRequests += v.link.keyframeRq.Load()
		}
		if !v.connected.Load() {
			continue
		}
		if rtt, ok := v.link.RTT(); ok {
			ns.RTTs = append(ns.RTTs, rtt)
		}
		if f, ok := v.link.loss(true); ok {
			ns.VideoLoss = append(ns.VideoLoss, f)
		}
		if f, ok := v.link.loss(false); ok {
			ns.AudioLoss = append(ns.AudioLoss, f)
		}
		v.mu.Lock()
		feed := v.feed
		v.mu.Unlock()
		if feed == nil {
			continue
		}
		ns.ByRendition[feed.Rendition()]++
		if a := v.net; a != nil && a.twcc {
			ns.Estimates = append(ns.Estimates, a.estimate.Load())
		}
	}
	return ns
}

// estimators collects the estimator NewPeerConnection makes for one viewer.
type estimators struct {
	mu  sync.Mutex
	est cc.BandwidthEstimator
}

func (e *estimators) set(x cc.BandwidthEstimator) {
	e.mu.Lock()
	e.est = x
	e.mu.Unlock()
}

func (e *estimators) get() cc.BandwidthEstimator {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.est
}

// logNet writes the network figures of a connected viewer that leaves: its last
// estimate and rung, its switches, and what its NACKs asked for and got.
func (v *viewer) logNet() {
	// The session's totals keep what the viewer counted.
	if g := v.gate; g != nil {
		v.o.nacked.Add(g.nacked.Load())
		v.o.refused.Add(g.refused.Load())
		for i := range g.refusedBy {
			v.o.refusedBy[i].Add(g.refusedBy[i].Load())
		}
		v.o.resent.Add(g.resent.Load())
	}
	v.o.keyframeRqs.Add(v.link.keyframeRq.Load())
	v.gone.Store(true)
	if !v.connected.Load() || v.gate == nil {
		return
	}
	args := []any{"viewer", v.id, "watched", time.Since(v.joined).Round(time.Second),
		"nacked", v.gate.nacked.Load(), "nacks_refused", v.gate.refused.Load(), "resent_bytes_max", v.gate.resent.Load(),
		"refused_too_old", v.gate.refusedBy[tooOld].Load(), "refused_over_budget", v.gate.refusedBy[overBudget].Load(),
		"key_frames_for_refused", v.gate.keys.Load()}
	if a := v.net; a != nil {
		args = append(args, "estimate_kbps", a.estimate.Load()/1000, "rendition", a.rungs[a.rendition.Load()].name,
			"ups", a.ups.Load(), "downs", a.downs.Load())
	}
	args = append(args, v.link.logArgs()...)
	v.o.cfg.Log.Info("viewer left", args...)
}
