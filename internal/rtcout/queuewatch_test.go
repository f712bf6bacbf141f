package rtcout

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// watchPath sends packets through a queueWatch and feeds it the feedback a real
// receiver (pion's TWCC recorder) builds for them, with the one-way delays a path
// gives them.
type watchPath struct {
	t    *testing.T
	w    *queueWatch
	out  interceptor.RTPWriter
	rec  *twcc.Recorder
	seq  uint16
	now  time.Time // sender's clock
	base time.Duration
}

func newWatchPath(t *testing.T) *watchPath {
	w := &queueWatch{}
	out := w.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: twccURI, ID: 3}}},
		interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	// The receiver's clock is 7 s behind the sender's, plus the path's 20 ms.
	return &watchPath{t: t, w: w, out: out, rec: twcc.NewRecorder(1), now: time.Now(), base: 20*time.Millisecond - 7*time.Second}
}

// send sends n packets 5 ms apart, the i-th delayed by delay(i) beyond the path's
// base, and delivers the feedback for them (one report, as every ≈100 ms).
func (p *watchPath) send(n int, delay func(i int) time.Duration) {
	for i := range n {
		p.seq++
		h := rtp.Header{Version: 2, SSRC: 5}
		ext, _ := (&rtp.TransportCCExtension{TransportSequence: p.seq}).Marshal()
		if err := h.SetExtension(3, ext); err != nil {
			p.t.Fatal(err)
		}
		p.out.Write(&h, nil, nil)
		// When it left, as the sender's clock says (the test's, not the wall's).
		p.w.sent[p.seq%watchRing].at = p.now.UnixNano()
		p.rec.Record(5, p.seq, p.now.Add(p.base+delay(i)).UnixMicro())
		p.now = p.now.Add(5 * time.Millisecond)
	}
	for _, pkt := range p.rec.BuildFeedbackPacket() {
		if fb, ok := pkt.(*rtcp.TransportLayerCC); ok {
			p.w.feedback(fb, p.now)
		}
	}
}

// flat is a path's delay with no queue.
func flat(int) time.Duration { return 0 }

func TestQueueWatch(t *testing.T) {
	t.Run("a path with a steady delay shows no queue", func(t *testing.T) {
		p := newWatchPath(t)
		for range 20 {
			p.send(20, flat)
		}
		if q, n := p.w.take(); q > time.Millisecond || n != 0 || p.w.filling() {
			t.Fatalf("queued %v (%d feedbacks over) on a steady path", q, n)
		}
	})
	t.Run("a queue growing past probeQueue shows on the feedback that sees it", func(t *testing.T) {
		p := newWatchPath(t)
		p.send(20, flat)
		p.w.take()
		p.send(20, func(i int) time.Duration { return time.Duration(i) * 3 * time.Millisecond }) // 57 ms at the end
		if !p.w.filling() {
			t.Fatal("a 57 ms queue does not pause the padding")
		}
		if q, n := p.w.take(); q < 47*time.Millisecond || q > 49*time.Millisecond || n != 1 {
			t.Fatalf("queued %v in %d feedbacks, want 48 ms (the least of the last %d packets) in 1", q, n, lastPackets)
		}
		p.send(20, flat) // drained
		if q, n := p.w.take(); q > time.Millisecond || n != 0 || p.w.filling() {
			t.Fatalf("queued %v (%d feedbacks over, pausing %v) once drained", q, n, p.w.filling())
		}
	})
	t.Run("a burst stamped late by a descheduled receiver is not a queue", func(t *testing.T) {
		p := newWatchPath(t)
		p.send(20, flat)
		p.send(20, func(i int) time.Duration {
			if i >= 5 && i < 15 {
				return 80 * time.Millisecond
			}
			return 0
		})
		if q, n := p.w.take(); q > time.Millisecond || n != 0 {
			t.Fatalf("queued %v (%d feedbacks over)", q, n)
		}
	})
	t.Run("a feedback that reports more packets than it has deltas for is read no further", func(t *testing.T) {
		p := newWatchPath(t)
		p.send(20, flat)
		p.w.feedback(&rtcp.TransportLayerCC{BaseSequenceNumber: 1, PacketStatusCount: 65535,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 8191}},
			RecvDeltas:   []*rtcp.RecvDelta{{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250}}}, p.now)
		p.w.feedback(&rtcp.TransportLayerCC{PacketStatusCount: 3}, p.now)
	})
}
