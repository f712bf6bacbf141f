// Package rtcout delivers a session to browsers over WebRTC through Pion: the
// session encodes once (H.264 and Opus in its pipeline), and every viewer's
// PeerConnection shares the same two tracks. RTP timestamps come from the pipeline's
// PTS and RTCP Sender Reports map both streams to one NTP timeline taken from the
// pipeline clock (RFC 3550 §6.4.1), not from send time, so browsers lip-sync exactly.
package rtcout

import (
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// Options configure the Pion side.
type Options struct {
	// ICEServers are offered to viewers (STUN/TURN); none are needed on a LAN or loopback.
	ICEServers []webrtc.ICEServer
	// NAT1To1IPs are public addresses to advertise as host candidates, if any.
	NAT1To1IPs []string
}

// newAPI builds the Pion API: H.264 (constrained baseline, packetization-mode 1) and
// Opus, NACK responses, and no automatic Sender Reports — avhost sends its own, from
// the pipeline clock.
func newAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: videoCap, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: audioCap, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(resp)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "ccm", Parameter: "fir"}, webrtc.RTPCodecTypeVideo)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true) // loopback viewers work out of the box
	// A viewer that vanishes is failed (and freed) within 10 s, not ICE's default 30 s.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if len(o.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(o.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

var (
	videoCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	audioCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
)
