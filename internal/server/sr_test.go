package server_test

import (
	"context"
	"math"
	"sort"
	"testing"
	"time"
)

// fromNTP converts a Sender Report's 64-bit NTP time to wall time.
func fromNTP(ntp uint64) time.Time {
	const ntpEpochOffset = 2208988800
	return time.Unix(int64(ntp>>32)-ntpEpochOffset, int64((ntp&0xffffffff)*uint64(time.Second)>>32))
}

// TestSenderReportsMapBothTracksToThePipelineClock reads the Sender Reports a viewer
// gets. Each must map its RTP time to the wall time of the same running time on the
// pipeline clock, for video and audio alike; a send-time mapping (Pion's SR
// interceptor) would be off by each encoder's delay. With that mapping, packets arrive
// a small, steady time after their place on the timeline: what each encoder and the
// network really take, audio's lookahead not included.
func TestSenderReportsMapBothTracksToThePipelineClock(t *testing.T) {
	h := encodingHost(t)
	out, err := h.srv.Stream("demo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := joinDemo(ctx, t, h)
	waitFor(t, 10*time.Second, func() bool { return len(r.Reports(true)) >= 3 && len(r.Reports(false)) >= 3 }, "three Sender Reports per track")
	lag, floor := map[bool]float64{}, map[bool]float64{}
	for _, video := range []bool{true, false} {
		clock := map[bool]float64{true: 90000, false: 48000}[video]
		rtp0 := out.RTPTime(video, 0)
		for _, sr := range r.Reports(video) {
			rt := time.Duration(float64(sr.RTPTime-rtp0) / clock * float64(time.Second))
			if d := fromNTP(sr.NTPTime).Sub(out.WallTime(rt)); d.Abs() > time.Millisecond {
				t.Fatalf("video=%v: SR maps RTP %d to %v, the pipeline clock says %v (off by %v)",
					video, sr.RTPTime, fromNTP(sr.NTPTime), out.WallTime(rt), d)
			}
		}
		last := r.Reports(video)[len(r.Reports(video))-1]
		var lags []float64
		for _, a := range r.Arrived(video) {
			at := fromNTP(last.NTPTime).Add(time.Duration(float64(int32(a.RTPTime-last.RTPTime)) / clock * float64(time.Second)))
			lags = append(lags, float64(a.At.Sub(at))/1e6)
		}
		sort.Float64s(lags)
		lag[video], floor[video] = lags[len(lags)/2], lags[len(lags)/20]
		t.Logf("video=%v: %d SRs on the pipeline clock (±1 ms); packets arrive %.1f ms (median; p5 %.1f, p95 %.1f ms) after their timeline position",
			video, len(r.Reports(video)), lag[video], floor[video], lags[len(lags)*95/100])
	}
	// Opus stamps its output 6.5 ms before the chunk that completes it (its
	// lookahead); pcmslicesrc pushes each chunk that much early, so audio leaves when
	// its timestamp is due, as video does. Pushed when due, no audio packet could
	// arrive less than 6.5 ms late (7.3 ms median, 7.0 p5 measured), so Chrome's A/V
	// sync, which holds back the earlier track, saw audio 6.4 ms behind video where a
	// sender of pre-encoded media has none (TestLatencyAgainstAReferenceSender). The floor
	// (p5), not the median, as load delays some packets but not the quickest. (An
	// Opus frame left waiting for the next chunk, as behind a resampler, adds 20.)
	if floor[false] > 4 {
		t.Fatalf("the quickest audio packets (p5) arrive %.1f ms after their timeline position: sent the Opus lookahead late", floor[false])
	}
	if d := lag[false] - lag[true]; math.Abs(d) > 10 {
		t.Fatalf("audio arrives %.1f ms later than video against the same timeline", d)
	}
}
