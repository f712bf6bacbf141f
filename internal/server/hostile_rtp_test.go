package server_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// heapMiB is the Go heap in use after a collection, in MiB.
func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// TestViewerRTPHoldsNoMemory: a viewer only receives, so RTP from it is nobody's to
// read. Pion opens a read stream for each SSRC that arrives and keeps it, unread,
// until the PeerConnection closes; with a buffer of its own (1 MB by default) per
// stream, a viewer sending media on a dozen SSRCs would make the host hold a dozen
// megabytes for as long as it stays. The viewer here sends 16 MB on 12 SSRCs (under
// the 32 streams that get a viewer dropped), then a PLI; once the host has counted
// the PLI, it has taken every packet sent before it, and its heap must not hold them.
func TestViewerRTPHoldsNoMemory(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) { c.Session = session.Config{Width: 256, Height: 256} })
	out, err := h.srv.Output("demo")
	if err != nil {
		t.Fatal(err)
	}
	m := &webrtc.MediaEngine{}
	must(t, m.RegisterDefaultCodecs())
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		must(t, err)
	}
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := webrtctest.ExchangeWHEP(ctx, pc, h.web+"/whep/demo", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the viewer did not connect")
	}
	// The answer gives this viewer nothing to send; RTP senders on the same DTLS
	// transport (Pion's ORTC API) send anyway, one SSRC each, as a hostile peer can.
	const ssrcs = 12
	var tracks []*webrtc.TrackLocalStaticRTP
	for i := range ssrcs {
		track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", fmt.Sprint("hostile", i))
		must(t, err)
		s, err := api.NewRTPSender(track, pc.SCTP().Transport())
		must(t, err)
		must(t, s.Send(webrtc.RTPSendParameters{Encodings: []webrtc.RTPEncodingParameters{{RTPCodingParameters: webrtc.RTPCodingParameters{SSRC: webrtc.SSRC(0x1000 + i), PayloadType: 111}}}}))
		t.Cleanup(func() { s.Stop() })
		tracks = append(tracks, track)
	}

	heap0 := heapMiB()
	payload := make([]byte, 1100)
	tick := time.NewTicker(5 * time.Millisecond) // 100 packets a tick: 22 MB/s, paced so loopback UDP keeps them
	defer tick.Stop()
	const packets = 16 << 20 / 1100
	for i := 0; i < packets; i++ {
		if i%100 == 0 {
			<-tick.C
		}
		n := i / ssrcs
		if err := tracks[i%ssrcs].WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(n), Timestamp: uint32(n) * 960}, Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	before := out.NetStats().KeyframeRequests
	var vssrc uint32
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Receiver().Track() != nil {
			vssrc = uint32(tr.Receiver().Track().SSRC())
		}
	}
	must(t, pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: vssrc}}))
	waitFor(t, 10*time.Second, func() bool { return out.NetStats().KeyframeRequests > before }, "the host to count the PLI sent after the RTP")
	grown := heapMiB() - heap0
	t.Logf("%d RTP packets (%.1f MB) on %d SSRCs the host never negotiated: viewers %d; Go heap in use %.1f → %.1f MiB",
		packets, float64(packets*len(payload))/1e6, ssrcs, out.Viewers(), heap0, heap0+grown)
	if out.Viewers() != 1 || pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Errorf("the viewer was dropped for RTP on %d SSRCs (the cap is on streams past 32)", ssrcs)
	}
	if grown > 3 {
		t.Errorf("the host holds %.1f MiB more for a viewer's %.1f MB of RTP", grown, float64(packets*len(payload))/1e6)
	}
}
