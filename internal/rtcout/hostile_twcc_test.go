package rtcout

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// feedbackChain is a ladder viewer's RTCP path as api.go builds it: the queue
// watch, then the GCC estimator (wrapped as for RTX), with one video stream whose
// packets carry the transport-wide sequence number.
type feedbackChain struct {
	t     *testing.T
	chain *interceptor.Chain
	out   interceptor.RTPWriter
	in    interceptor.RTCPReader
	w     *queueWatch
	next  []byte // the datagram the next read returns
	seq   uint16
}

func newFeedbackChain(t *testing.T) *feedbackChain {
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		e, err := gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initialEstimate),
			gcc.SendSideBWEMaxBitrate(maxEstimate), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
		if err != nil {
			return nil, err
		}
		return rtxEstimator{e}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	c := &feedbackChain{t: t, w: &queueWatch{}}
	c.chain = interceptor.NewChain([]interceptor.Interceptor{c.w, ci})
	t.Cleanup(func() { c.chain.Close() })
	info := &interceptor.StreamInfo{SSRC: 5, RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: twccURI, ID: 3}}}
	c.out = c.chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) { return 0, nil }))
	c.in = c.chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, c.next), a, nil
	}))
	return c
}

// send sends n media packets of 1000 bytes.
func (c *feedbackChain) send(n int) {
	for range n {
		h := rtp.Header{Version: 2, SSRC: 5, SequenceNumber: c.seq}
		ext, _ := (&rtp.TransportCCExtension{TransportSequence: c.seq}).Marshal()
		if err := h.SetExtension(3, ext); err != nil {
			c.t.Fatal(err)
		}
		if _, err := c.out.Write(&h, make([]byte, 1000), nil); err != nil {
			c.t.Fatal(err)
		}
		c.seq++
	}
}

// read hands the viewer's datagram to the chain, as the RTCP reader loop does.
func (c *feedbackChain) read(d []byte) error {
	c.next = d
	var b [1500]byte
	_, _, err := c.in.Read(b[:], nil)
	return err
}

func marshalRTCP(t testing.TB, pkts ...rtcp.Packet) []byte {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rtcp.Unmarshal(b); err != nil {
		t.Fatalf("the datagram does not parse: %v", err)
	}
	return b
}

// runs is a feedback reporting count packets from base as runs of n of one symbol.
func runs(base uint16, count, n int, sym uint16) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{MediaSSRC: 5, BaseSequenceNumber: base, PacketStatusCount: uint16(count), ReferenceTime: 1}
	for left := count; left > 0; left -= n {
		fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: sym, RunLength: uint16(min(n, left))})
		if sym == rtcp.TypeTCCPacketReceivedSmallDelta {
			for range min(n, left) {
				fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: sym, Delta: 250})
			}
		}
	}
	fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(fb.MarshalSize()/4 - 1)}
	return fb
}

// costOf is the time the chain takes per read of d, over ≈300 ms or max reads.
func costOf(c *feedbackChain, d []byte, max int) time.Duration {
	n := 0
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond && n < max {
		if err := c.read(d); err != nil {
			c.t.Fatalf("read: %v", err)
		}
		n++
	}
	return time.Since(start) / time.Duration(n)
}

// TestHostileFeedbackCost: a viewer controls every byte of its RTCP. The datagrams
// that cost the host most per byte, through the queue watch and GCC, against the
// feedback a browser sends: what one viewer's upstream can make the host spend.
// Measured before the watch's budget: 4.7-5.3 ms of CPU for 1.1-1.2 KB (one core
// for 1.7 Mbit/s of a viewer's upstream), 330-380x the browser's datagram of
// 44 bytes, 12-15x per byte.
func TestHostileFeedbackCost(t *testing.T) {
	c := newFeedbackChain(t)
	c.send(1000)
	rec := twcc.NewRecorder(1)
	for s := uint16(980); s < 1000; s++ {
		rec.Record(5, s, time.Now().UnixMicro()+int64(s)*1000)
	}
	honest := marshalRTCP(t, rec.BuildFeedbackPacket()...)
	var many []rtcp.Packet // each 8 runs of 8191 lost: every packet in the history lost, 8 times over
	for range 30 {
		many = append(many, runs(0, 65535, 8191, rtcp.TypeTCCPacketNotReceived))
	}
	var ccfb []rtcp.Packet // RFC 8888 feedback, never negotiated, that GCC reads all the same
	for range 90 {
		ccfb = append(ccfb, &rtcp.CCFeedbackReport{SenderSSRC: 1})
	}
	cases := []struct {
		name string
		d    []byte
	}{
		{"honest", honest},
		{"65535 lost in runs of 250", marshalRTCP(t, runs(750, 65535, 250, rtcp.TypeTCCPacketNotReceived), runs(750, 65535, 250, rtcp.TypeTCCPacketNotReceived))},
		{"30 feedbacks of 8 runs of 8191 lost", marshalRTCP(t, many...)},
		{"90 empty RFC 8888 reports", marshalRTCP(t, ccfb...)},
		{"1100 received, zero deltas", marshalRTCP(t, runs(750, 1100, 1100, rtcp.TypeTCCPacketReceivedSmallDelta))},
	}
	// The browser's datagram, read by a chain of its own (warmed up) at the pace a
	// browser sends them.
	c0 := newFeedbackChain(t)
	c0.send(1000)
	costOf(c0, honest, 50)
	base := costOf(c0, honest, 50)
	perByte := func(d time.Duration, b []byte) float64 { return float64(d.Nanoseconds()) / float64(len(b)) }
	t.Logf("%-38s %5d bytes: %9v a datagram, %6.1f ns a byte", "honest", len(honest), base, perByte(base, honest))
	for _, k := range cases[1:] {
		d := costOf(c, k.d, 1<<30) // a flood
		t.Logf("%-38s %5d bytes: %9v a datagram, %6.1f ns a byte, %5.1fx honest per datagram", k.name, len(k.d), d,
			perByte(d, k.d), float64(d)/float64(base))
		// A host pays for what a viewer sends; a datagram may cost what reading as
		// many bytes of a browser's feedback costs, not an order more.
		if r := perByte(d, k.d) / perByte(base, honest); r > 3 {
			t.Errorf("%s: %.1fx a browser's feedback per byte, want at most 3x", k.name, r)
		}
	}
}

// TestFeedbackBudget: the budget keeps a browser's feedback, even after a pause,
// and drops a flood's without taking from the feedback after it.
func TestFeedbackBudget(t *testing.T) {
	w := &queueWatch{}
	now := time.Unix(100, 0)
	fb := func(n int) *rtcp.TransportLayerCC { return &rtcp.TransportLayerCC{PacketStatusCount: uint16(n)} }
	// 1100 packets a second (the default ladder's probe sends ≈720), reported every
	// 50 ms for 10 s.
	for i := range 200 {
		if !w.admit(fb(55), now.Add(time.Duration(i)*50*time.Millisecond)) {
			t.Fatalf("feedback %d of a browser at 1100 packets a second dropped", i)
		}
	}
	now = now.Add(10 * time.Second)
	// A receiver descheduled for a second reports the second's packets at once.
	if !w.admit(fb(1100), now.Add(time.Second)) {
		t.Fatal("a second's packets reported at once dropped")
	}
	now = now.Add(time.Second)
	if w.admit(fb(65535), now) {
		t.Fatal("65535 packets reported at once: admitted")
	}
	if !w.admit(fb(55), now.Add(50*time.Millisecond)) {
		t.Fatal("the feedback after a refused one dropped")
	}
	// A flood of feedbacks within the statuses each: reportRate a second in all.
	admitted := 0
	for i := range 10000 {
		if w.admit(fb(100), now.Add(time.Second+time.Duration(i)*time.Millisecond)) {
			admitted += 100
		}
	}
	if admitted > 11*reportRate {
		t.Fatalf("%d statuses admitted in 10 s, want at most %d", admitted, 11*reportRate)
	}
	t.Logf("flood of 100 000 statuses a second for 10 s: %d admitted", admitted)
	// Through the chain, the browser's feedback still reaches the watch.
	c := newFeedbackChain(t)
	c.send(100)
	rec := twcc.NewRecorder(1)
	for s := uint16(80); s < 100; s++ {
		rec.Record(5, s, time.Now().UnixMicro()+int64(s)*1000)
	}
	if err := c.read(marshalRTCP(t, rec.BuildFeedbackPacket()...)); err != nil {
		t.Fatal(err)
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	if !c.w.baseSet {
		t.Fatal("the watch did not read a browser's feedback")
	}
}

// FuzzFeedbackChain: any datagram a viewer sends through the queue watch and GCC
// returns (an error at most) and leaves the watch's figures sane.
func FuzzFeedbackChain(f *testing.F) {
	f.Add(marshalRTCP(f, runs(750, 65535, 250, rtcp.TypeTCCPacketNotReceived)))
	f.Add(marshalRTCP(f, runs(65300, 600, 100, rtcp.TypeTCCPacketReceivedSmallDelta))) // across the wrap
	f.Add(marshalRTCP(f, &rtcp.CCFeedbackReport{SenderSSRC: 1}))
	var c *feedbackChain
	f.Fuzz(func(t *testing.T, d []byte) {
		if c == nil { // one chain per fuzzing process: its state carries over, as a viewer's does
			c = newFeedbackChain(t)
			c.t = nil
		}
		c.seq = 64000 + uint16(len(d)) // sequence numbers near the wrap
		c.t = t
		c.send(8)
		c.w.mu.Lock()
		c.w.reportAt = time.Time{} // a full budget: GCC reads every datagram within it
		c.w.mu.Unlock()
		start := time.Now()
		_ = c.read(d)
		if d := time.Since(start); d > time.Second { // a hang, not a busy host's noise
			t.Errorf("one datagram took %v", d)
		}
		if p, _ := c.w.take(); p < 0 {
			t.Errorf("queue peak %v", p)
		}
	})
}
