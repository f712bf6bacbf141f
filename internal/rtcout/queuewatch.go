package rtcout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// queueWatch reads a viewer's transport-wide CC feedback itself (draft-holmer-
// rmcat-transport-wide-cc-extensions-01 §3.1) to tell how long the viewer's packets
// now wait in the path's queue: the one-way delay of the latest packets reported,
// less the smallest seen over the last few seconds. GCC reads the same feedback,
// but its trend filter and overuse detector confirm a growing queue only 0.6–0.8 s
// after it starts, which a probe (ladder.go) crossing a narrow link turns into a
// queue of half a second or into drops; this sees it on the first feedback after
// the queue passes probeQueue, and pauses the padding at once (over), before the
// policy's next step. The policy ends the probe on the second such feedback: a
// receiver or sender descheduled on a busy host shows one feedback's packets late
// (measured: 109 ms once on a clean path, at load 6-8), a queue outlasts it (it
// drains at what the link has to spare: 100 kbit/s of 600 on the mid rung).
//
// It is an interceptor placed next to the transport: the packets it sees leaving
// already carry their transport-wide sequence number (the header extension
// interceptor sets it), and it notes when each left.
type queueWatch struct {
	interceptor.NoOp

	mu      sync.Mutex
	sent    *[watchRing]sentAt // by transport-wide sequence number mod watchRing; nil until a stream has the extension
	ref     int64              // the last feedback's reference time, unwrapped (64 ms units)
	refSet  bool
	base    [2]int64 // the least one-way delay (ns) in the current and the previous baseWindow
	baseSet bool
	baseEnd time.Time
	// The feedback budget (admit): packet statuses it may still report, and when
	// it was last refilled.
	reports  float64
	reportAt time.Time

	peak  atomic.Int64 // the most queued (ns) a feedback showed since the last take
	overs atomic.Int32 // feedbacks since the last take that showed more than probeQueue
	over  atomic.Bool  // the latest feedback did: the padding pauses
}

// sentAt is when a packet left.
type sentAt struct {
	seq uint16
	at  int64 // unix ns; 0: never sent
}

const (
	// watchRing covers a second of sending at a probe's full rate (≈800 packets a
	// second, most of them padding), where feedback comes every 50–100 ms.
	watchRing = 1024
	// baseWindow: the least delay of the last one or two windows is the path's
	// empty-queue delay. Short enough that clock drift (≈0.1 ms/s at 100 ppm) and
	// a route change age out; long enough to span a probe.
	baseWindow = 5 * time.Second
	// lastPackets: a feedback's queue is the least delay of its last few packets.
	// A queue delays every packet behind it; a receiver descheduled on a busy host
	// stamps a burst of them late, but reads the last on time.
	lastPackets = 4
	// reportRate is the packet statuses a second a viewer's feedback may report,
	// reportRate at once: a viewer is sent at most ≈720 packets a second with the
	// default ladder (a probe from the mid rung to the top: 1.3 Mbit/s of 267-byte
	// padding packets, the mid rung's video and Opus), ≈1700 were the top rung at
	// maxEstimate. GCC's feedback adapter
	// (pion/interceptor) works per status reported, not per byte: a run-length chunk
	// reports up to 8191 in two bytes, and measured, a 1.1 KB datagram of such runs
	// cost 4.7-5.5 ms of CPU, one core for 1.7 Mbit/s of a viewer's upstream
	// (TestHostileFeedbackCost).
	reportRate = 4000
)

// NewInterceptor is the watch itself: one per viewer (interceptor.Factory).
func (w *queueWatch) NewInterceptor(string) (interceptor.Interceptor, error) { return w, nil }

// take returns the most queued a feedback showed since the last take and how many
// showed more than probeQueue, and starts the next count. Zeros for no watch.
func (w *queueWatch) take() (peak time.Duration, overs int) {
	if w == nil {
		return 0, 0
	}
	return time.Duration(w.peak.Swap(0)), int(w.overs.Swap(0))
}

// filling reports whether the latest feedback showed more than probeQueue: the
// padding pauses until one does not (or the policy ends the probe).
func (w *queueWatch) filling() bool { return w != nil && w.over.Load() }

// BindLocalStream notes when each packet carrying the transport-wide sequence
// number leaves.
func (w *queueWatch) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	var id uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == twccURI {
			id = uint8(e.ID)
		}
	}
	if id == 0 {
		return writer
	}
	w.mu.Lock()
	if w.sent == nil {
		w.sent = new([watchRing]sentAt)
	}
	w.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		var ext rtp.TransportCCExtension
		if ext.Unmarshal(h.GetExtension(id)) == nil {
			now := time.Now().UnixNano()
			w.mu.Lock()
			w.sent[ext.TransportSequence%watchRing] = sentAt{seq: ext.TransportSequence, at: now}
			w.mu.Unlock()
		}
		return writer.Write(h, payload, a)
	})
}

// BindRTCPReader reads the transport-wide CC feedback of each RTCP packet read.
func (w *queueWatch) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return parsedRTCP(r, func(pkts []rtcp.Packet) {
		now := time.Now()
		for i, p := range pkts {
			fb, ok := p.(*rtcp.TransportLayerCC)
			if !ok {
				continue
			}
			if !w.admit(fb, now) {
				// GCC, next in the chain, reads the packets parsed here (the
				// Attributes hold them): it never sees this feedback.
				pkts[i] = &rtcp.RawPacket{}
				continue
			}
			w.feedback(fb, now)
		}
	})
}

// admit reports whether fb fits the viewer's feedback budget (reportRate), and
// takes it from the budget if so. A feedback over it is dropped whole: a browser's
// never is, and one that lies about its length is the viewer's own loss.
func (w *queueWatch) admit(fb *rtcp.TransportLayerCC, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reportAt.IsZero() {
		w.reports = reportRate
	} else {
		w.reports = min(w.reports+reportRate*now.Sub(w.reportAt).Seconds(), reportRate)
	}
	w.reportAt = now
	n := float64(fb.PacketStatusCount)
	if n > w.reports {
		return false
	}
	w.reports -= n
	return true
}

// feedback reads one feedback packet, received at now.
func (w *queueWatch) feedback(fb *rtcp.TransportLayerCC, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent == nil {
		return
	}
	ref := int64(fb.ReferenceTime & 0xffffff)
	if w.refSet { // the nearest epoch of the 24-bit field (it wraps every 12 days)
		ref = w.ref + (ref-w.ref+1<<23)&0xffffff - 1<<23
	}
	w.ref, w.refSet = ref, true
	arrival := ref * int64(64*time.Millisecond) // the viewer's clock
	var last [lastPackets]int64
	n := 0
	least := int64(0) // of every packet reported: a lower delay is never noise
	deltas := fb.RecvDeltas
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	// read reads one reported packet; false when the deltas run out (a feedback
	// that lies about its length ends there).
	read := func(symbol uint16) bool {
		s := seq
		seq++
		left--
		if symbol != rtcp.TypeTCCPacketReceivedSmallDelta && symbol != rtcp.TypeTCCPacketReceivedLargeDelta {
			return true
		}
		if len(deltas) == 0 {
			return false
		}
		arrival += deltas[0].Delta * int64(time.Microsecond)
		deltas = deltas[1:]
		if p := w.sent[s%watchRing]; p.seq == s && p.at != 0 && now.UnixNano()-p.at < int64(time.Second) {
			d := arrival - p.at
			if n == 0 || d < least {
				least = d
			}
			last[n%lastPackets] = d
			n++
		}
		return true
	}
chunks:
	for _, c := range fb.PacketChunks {
		if left <= 0 {
			break
		}
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			run := min(int(c.RunLength), left)
			if c.PacketStatusSymbol == rtcp.TypeTCCPacketNotReceived {
				seq, left = seq+uint16(run), left-run
				continue
			}
			for range run {
				if !read(c.PacketStatusSymbol) {
					break chunks
				}
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList[:min(len(c.SymbolList), left)] {
				if !read(sym) {
					break chunks
				}
			}
		}
	}
	if n == 0 {
		return
	}
	if !w.baseSet {
		w.base, w.baseSet = [2]int64{least, least}, true
	}
	if now.After(w.baseEnd) {
		w.base[1], w.base[0], w.baseEnd = w.base[0], least, now.Add(baseWindow)
	}
	w.base[0] = min(w.base[0], least)
	latest := last[0]
	for _, d := range last[1:min(n, lastPackets)] {
		latest = min(latest, d)
	}
	q := latest - min(w.base[0], w.base[1])
	for p := w.peak.Load(); q > p && !w.peak.CompareAndSwap(p, q); p = w.peak.Load() {
	}
	w.over.Store(q > int64(probeQueue))
	if q > int64(probeQueue) {
		w.overs.Add(1)
	}
}
