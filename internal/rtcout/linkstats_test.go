package rtcout

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// A report block's RTT is its arrival less the echoed SR's departure less the time
// it sat at the receiver; an echo of no SR avhost sent, or an impossible delay,
// moves nothing.
func TestLinkStatsRoundTrip(t *testing.T) {
	var l linkStats
	t0 := time.Unix(1_700_000_000, 0)
	ntp := uint64(0x0123_4567_89ab_cdef)
	l.sentSR(ntp, t0)
	lsr := uint32(ntp >> 16)
	// Sat 100 ms at the receiver (6553.6 units of 1/65536 s), arrives 130 ms later.
	l.received(rtcp.ReceptionReport{SSRC: 1, FractionLost: 64, TotalLost: 9, LastSenderReport: lsr, Delay: 6554}, true, t0.Add(130*time.Millisecond))
	rtt, ok := l.RTT()
	if !ok || rtt < 29*time.Millisecond || rtt > 31*time.Millisecond {
		t.Fatalf("RTT %v (%v), want 30 ms", rtt, ok)
	}
	if l.videoFrac.Load() != 64 || l.videoLost.Load() != 9 || l.audioLost.Load() != 0 {
		t.Fatalf("loss: video %d/256 %d lost, audio %d lost", l.videoFrac.Load(), l.videoLost.Load(), l.audioLost.Load())
	}
	for _, c := range []struct {
		b     rtcp.ReceptionReport
		after time.Duration
	}{
		{rtcp.ReceptionReport{LastSenderReport: lsr + 1}, 130 * time.Millisecond},               // an SR never sent
		{rtcp.ReceptionReport{LastSenderReport: lsr, Delay: 65536 * 5}, 130 * time.Millisecond}, // sat longer than the trip took
		{rtcp.ReceptionReport{LastSenderReport: lsr}, 11 * time.Second},                         // over maxRTT
	} {
		l.received(c.b, false, t0.Add(c.after))
	}
	if got, _ := l.RTT(); got != rtt {
		t.Fatalf("a bad echo moved the RTT: %v → %v", rtt, got)
	}
}
