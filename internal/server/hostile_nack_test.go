package server_test

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// wireCount is a viewer's UDP socket that counts the RTP it reads by payload type
// (the RTP header travels in clear under SRTP), and keeps the latest video
// sequence number and SSRC: what a NACK names, without Pion binding the stream.
type wireCount struct {
	net.PacketConn
	mu    sync.Mutex
	bytes map[uint8]int64
	pkts  map[uint8]int64
	ssrc  uint32
	seq   uint16
}

const videoPT, rtxPT = 102, 103

func (w *wireCount) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := w.PacketConn.ReadFrom(b)
	// RTP version 2, and not RTCP (packet types 192–223 share the second byte).
	if n >= 12 && b[0]>>6 == 2 && (b[1] < 192 || b[1] > 223) {
		pt := b[1] & 0x7f
		w.mu.Lock()
		w.bytes[pt] += int64(n)
		w.pkts[pt]++
		if pt == videoPT {
			w.ssrc, w.seq = binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4])
		}
		w.mu.Unlock()
	}
	return n, a, err
}

func (w *wireCount) get() (video, rtx int64, ssrc uint32, seq uint16) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bytes[videoPT], w.bytes[rtxPT], w.ssrc, w.seq
}

func (w *wireCount) packets() (video, rtx int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pkts[videoPT], w.pkts[rtxPT]
}

// TestNACKFloodIsNotAmplified: a viewer that offers RTX (as browsers and Pion's
// default codecs do) receives video on either backend, and when it then NACKs every
// video packet of the last 200, a hundred times a second, avhost does not amplify:
// each NACK of a few bytes asks for kilobytes, so without a budget the resends grow
// with the viewer's NACK rate, not with the video. Resent bytes (RTX, counted on the
// wire) must stay within twice the video's packets, counted from 400 ms before the
// flood (the Pion backend resends a packet at most twice, and none older).
func TestNACKFloodIsNotAmplified(t *testing.T) {
	for _, tc := range []struct {
		name, backend string
		ladder        bool // a viewer with an estimator (transport-wide CC) and the ladder on
	}{{"pion", "pion", false}, {"pion-ladder", "pion", true}, {"webrtcbin", "webrtcbin", false}} {
		t.Run(tc.name, func(t *testing.T) {
			backend, session := tc.backend, tc.name
			h := viewersHost(t, func(c *server.Config) {
				c.Session.Backend = backend
				c.Session.Ladder = "off"
				if tc.ladder {
					c.Session.Ladder = "on"
				}
			})
			m := &webrtc.MediaEngine{}
			if tc.ladder {
				for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
					must(t, m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k))
				}
			}
			nack := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
			must(t, m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: nack}, PayloadType: videoPT}, webrtc.RTPCodecTypeVideo))
			must(t, m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000,
				SDPFmtpLine: "apt=102"}, PayloadType: rtxPT}, webrtc.RTPCodecTypeVideo))
			must(t, m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio))
			udp, err := net.ListenUDP("udp4", &net.UDPAddr{})
			must(t, err)
			wire := &wireCount{PacketConn: udp, bytes: map[uint8]int64{}, pkts: map[uint8]int64{}}
			se := webrtc.SettingEngine{}
			se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, wire))
			se.SetIncludeLoopbackCandidate(true)
			se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
			// webrtcbin connects and sends as soon as it answered, before the answer
			// reaches this peer.
			se.SetHandleUndeclaredSSRCWithoutAnswer(true)
			pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
			must(t, err)
			defer pc.Close()
			for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
				_, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
				must(t, err)
			}
			var tracked sync.Once
			videoTrack := make(chan struct{})
			pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				if tr.Kind() == webrtc.RTPCodecTypeVideo {
					tracked.Do(func() { close(videoTrack) })
				}
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := webrtctest.ExchangeWHEP(ctx, pc, h.web+"/whep/demo", ""); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for v, _, _, _ := wire.get(); v < 1000; v, _, _, _ = wire.get() {
				if time.Now().After(deadline) {
					wire.mu.Lock()
					t.Fatalf("no video on the wire (RTP bytes by payload type %v; connection %s)", wire.bytes, pc.ConnectionState())
				}
				time.Sleep(50 * time.Millisecond)
			}
			select {
			case <-videoTrack:
			case <-time.After(5 * time.Second):
				t.Errorf("%s: video arrives but the viewer has no video track: the answer does not declare the SSRC it is sent on", session)
			}
			video0, rtx0, ssrc, _ := wire.get()
			vp0, rp0 := wire.packets()
			time.Sleep(400 * time.Millisecond) // what the flood may ask for is sent from here
			start := time.Now()
			for time.Since(start) < 3*time.Second {
				_, _, _, last := wire.get()
				var seqs []uint16
				for i := uint16(0); i < 200; i++ {
					seqs = append(seqs, last-i)
				}
				pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
				time.Sleep(10 * time.Millisecond) // the flood's pace
			}
			video1, rtx1, _, _ := wire.get()
			vp1, rp1 := wire.packets()
			video, rtx, vp, rp := video1-video0, rtx1-rtx0, vp1-vp0, rp1-rp0
			t.Logf("%s: 3 s of NACK floods: video %d packets, %d bytes; RTX %d packets (%.2f×), %d bytes (%.2f×)", session,
				vp, video, rp, float64(rp)/float64(max(vp, 1)), rtx, float64(rtx)/float64(max(video, 1)))
			// 5 packets of slack: what is in flight when either count is read.
			if rp > 2*vp+5 {
				t.Errorf("%s: %d packets resent against %d of video: the NACK flood is amplified", session, rp, vp)
			}
			// Pion answers within its budget: none at all is repair lost (webrtcbin's
			// RTX is off, wbout/answer.go).
			if backend == "pion" && rp == 0 {
				t.Errorf("%s: no RTX on the wire for 3 s of NACKs of packets just sent", session)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
