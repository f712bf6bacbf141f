package stream

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// Opus in-band FEC (RFC 6716 §2.1.7) against the loss viewers report. The session
// has one Opus encode for all its viewers, so it plans for the worst one: each reader
// that hears receiver reports (RFC 3550 §6.4.2, fraction lost of the audio track)
// hands them to ReportAudioLoss, which smooths them per reader; every fecPeriod the
// stream sets opusenc's packet-loss-percentage from the worst smoothed loss
// (fecTarget), off the streaming threads (opusenc applies it to the running
// encoder under its own lock: the property is mutable in PLAYING).
//
// The mapping, and why:
//   - fecFloor (9 %) whatever the reports: libopus (1.3) puts in-band FEC only in
//     SILK/hybrid frames, and at 64 kbit/s chooses SILK/hybrid over CELT-only for
//     FEC only when the expected loss exceeds (128 − voice probability)/16, up to
//     8 % for a signal it does not take for speech (a beep, music). 9 keeps every
//     frame protected, so the first losses of a viewer that had none are mended too,
//     before any report arrives. It was a fixed 10 before; the floor costs the same.
//   - above it, twice the worst smoothed loss: reports lag and losses come in
//     bursts, and a higher expectation makes libopus spend more on the redundant
//     copy (SILK's LBRR gain step shrinks with it), which is what a lossier path
//     needs. At 2 % loss that is 13, at 5 % 19.
//   - at most fecCap (30 %): past that libopus only takes bits from the primary
//     frame for a copy that a burst loses too.
//
// Updates are rate-limited (one per fecPeriod at most) and made only when the
// target moves by fecStep or more, so a jittery report does not reconfigure the
// encoder every second.
const (
	fecFloor  = 9
	fecCap    = 30
	fecStep   = 2
	fecPeriod = 2 * time.Second
	// fecSmooth is the weight of a new report in a reader's smoothed loss: Chrome
	// reports audio every ~5 s, so a step in loss is mostly in after two reports.
	fecSmooth = 0.5
)

// fecTarget is the packet-loss-percentage for a worst smoothed loss (0..1).
func fecTarget(loss float64) int {
	if !(loss > 0) { // also NaN
		return fecFloor
	}
	return min(fecFloor+int(math.Round(200*loss)), fecCap)
}

// fecNext is the property's next value from its current one and the target: the
// target if it moved by fecStep or more, or reached a bound; else the current.
func fecNext(cur, target int) int {
	if target == cur {
		return cur
	}
	if target-cur >= fecStep || cur-target >= fecStep || target == fecFloor || target == fecCap {
		return target
	}
	return cur
}

// lossEWMA is a reader's smoothed loss, a float64 in an atomic (set by the reader's
// RTCP goroutine, read by the stream's FEC loop).
type lossEWMA struct{ bits atomic.Uint64 }

func (l *lossEWMA) add(fraction float64) {
	fraction = min(max(fraction, 0), 1)
	for {
		old := l.bits.Load()
		cur := math.Float64frombits(old)
		next := fraction
		if old != 0 {
			next = cur + fecSmooth*(fraction-cur)
		}
		if next == 0 {
			next = math.SmallestNonzeroFloat64 // 0 bits mean "no report yet"
		}
		if l.bits.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

func (l *lossEWMA) get() float64 { return math.Float64frombits(l.bits.Load()) }

// ReportAudioLoss hands the reader's viewer's latest receiver report on the audio
// track: its fraction lost (RFC 3550 §6.4.1, 0..1). Safe from any goroutine.
func (r *Reader) ReportAudioLoss(fraction float64) {
	r.audioLoss.add(fraction)
}

// AudioLossPercent is the packet-loss-percentage the stream last set on the Opus
// encoder (Config.AudioEncoder), or -1 when it sets none.
func (s *Stream) AudioLossPercent() int {
	if s.fecEnc == nil {
		return -1
	}
	return int(s.fecCur.Load())
}

// fecLoop sets the encoder's expected loss from the readers' reports until Close.
func (s *Stream) fecLoop(enc *gst.Element) {
	defer s.wg.Done()
	t := time.NewTicker(fecPeriod)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		worst := 0.0
		for _, r := range *s.readers.Load() {
			worst = max(worst, r.audioLoss.get())
		}
		cur := int(s.fecCur.Load())
		if next := fecNext(cur, fecTarget(worst)); next != cur {
			enc.SetProperty("packet-loss-percentage", next)
			s.fecCur.Store(int32(next))
			s.cfg.Log.Debug("opus expected loss", "percent", next, "worst_loss", math.Round(worst*1000)/10)
		}
	}
}
