// Package rtcout is the Pion backend of WebRTC viewers (viewers.Backend) and the
// WebRTC side of WHIP publishing (whip.Peer): every viewer's PeerConnection is a
// reader of the session's stream (internal/stream), which encodes once, packetizes
// once and hands every reader the same RTP packets. RTP timestamps come from the
// pipeline's running time, and RTCP Sender Reports map both tracks to one NTP timeline
// taken from the pipeline clock (RFC 3550 §6.4.1), not from send time, so browsers
// lip-sync exactly.
package rtcout

import (
	"fmt"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/viewers"
)

// Options configure the Pion side.
type Options struct {
	// ICEServers are offered to viewers (STUN/TURN); none are needed on a LAN or loopback.
	ICEServers []webrtc.ICEServer `yaml:"ice_servers"`
	// NAT1To1IPs are public addresses to advertise as host candidates, if any.
	NAT1To1IPs []string `yaml:"nat_1to1_ips"`
	// ICEUDP and ICETCP are the host's one ICE port (ICEMux): every Pion viewer of
	// every session and the WHIP publisher share one UDP socket and one passive ICE-TCP
	// listener there. avhost serve defaults both to ":8189" (DefaultICEPort); "-" (or
	// empty, a zero Config's) falls back to ephemeral UDP ports per PeerConnection and
	// no ICE-TCP. The server binds them (NewICEMux) and hands the mux over in Mux.
	ICEUDP string `yaml:"ice_udp"`
	ICETCP string `yaml:"ice_tcp"`
	// ICEInterfaces, if set, are the only network interfaces (by name, e.g. "eth0")
	// whose addresses become host candidates; defaults to all of them. On a host with
	// docker or VPN interfaces it keeps addresses no viewer can reach out of the SDP.
	ICEInterfaces []string `yaml:"ice_interfaces"`
	// TURN mints a credential per viewer for a TURN server sharing a secret with
	// avhost (coturn's use-auth-secret), handed out with ICEServers; off by default.
	TURN TURN `yaml:"turn"`
	// NACKBuffer is how many sent video packets each viewer keeps to answer NACKs
	// (RFC 4585 §6.2.1); a power of two, defaults to 256. Each costs a 1460-byte copy,
	// per viewer: 256 is ≈0.4 MB a viewer, against Pion's default 1024 (≈1.6 MB). At
	// the default 1.5 Mb/s that is ≈1.6 s of video: a whole key frame (2 s GOP) plus a
	// round trip. A loss older than that is better mended by a PLI and a key frame.
	NACKBuffer uint16 `yaml:"nack_buffer"`
	// ConnectTimeout frees a viewer whose ICE and DTLS are not both connected this long
	// after its answer, so offers that never finish hold no slot and no memory;
	// defaults to 10 s. Pion's own ICE failure comes at 10 s too (SetICETimeouts);
	// a browser connects within a few seconds, through TURN included.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Host, if set, is the host's viewer caps, shared with its other outputs.
	Host *viewers.Slots `yaml:"-"`
	// Mux, if set, is the host's ICE port (NewICEMux from ICEUDP, ICETCP), shared by
	// every output; nil: ephemeral ports per PeerConnection.
	Mux *ICEMux `yaml:"-"`
}

// DefaultICEPort is avhost serve's ICE UDP and TCP address (ICEUDP, ICETCP).
const DefaultICEPort = ":8189"

// DefaultNACKBuffer is Options.NACKBuffer's default; ConnectTimeout's is
// viewers.DefaultConnectTimeout.
const DefaultNACKBuffer = 256

func (o Options) connectTimeout() time.Duration {
	if o.ConnectTimeout > 0 {
		return o.ConnectTimeout
	}
	return viewers.DefaultConnectTimeout
}

// newAPI builds the Pion API of WHIP publishing and tests: H.264 (constrained
// baseline, packetization-mode 1) and Opus, NACK responses, and no automatic Sender
// Reports — avhost sends its own, from the pipeline clock. tune, if any, adjusts the
// setting engine last (the WHIP publisher's shorter ICE timeouts).
func newAPI(o Options, tune ...func(*webrtc.SettingEngine)) (*webrtc.API, error) {
	b, err := newAPIBase(o, false)
	if err != nil {
		return nil, err
	}
	for _, f := range tune {
		f(&b.se)
	}
	return b.api(nil, nil, nil, nil)
}

// apiBase is what every PeerConnection of one kind shares: codecs, header
// extensions, the NACK responder, the setting engine.
type apiBase struct {
	m    *webrtc.MediaEngine
	se   webrtc.SettingEngine
	nack interceptor.Factory
	twcc interceptor.Factory // nil: no transport-wide CC
}

// newAPIBase prepares newAPI's API; with cc, viewers' APIs (viewerAPI): the
// transport-wide CC header extension (draft-holmer-rmcat-transport-wide-cc-
// extensions-01) on both tracks, so a viewer's feedback covers all it is sent.
func newAPIBase(o Options, cc bool) (*apiBase, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: videoCap, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: audioCap, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	size := o.NACKBuffer
	if size == 0 {
		size = DefaultNACKBuffer
	}
	if size&(size-1) != 0 {
		return nil, fmt.Errorf("rtcout: nack_buffer %d is not a power of two", size)
	}
	resp, err := nack.NewResponderInterceptor(nack.ResponderSize(size))
	if err != nil {
		return nil, err
	}
	b := &apiBase{m: m, nack: resp}
	// abs-capture-time on both tracks (capture.go): any receiver can tell capture →
	// display, Chrome as requestVideoFrameCallback's captureTime.
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AbsCaptureTimeURI}, k); err != nil {
			return nil, err
		}
	}
	if cc {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, k); err != nil {
				return nil, err
			}
		}
		if b.twcc, err = twcc.NewHeaderExtensionInterceptor(); err != nil {
			return nil, err
		}
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "ccm", Parameter: "fir"}, webrtc.RTPCodecTypeVideo)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true) // loopback viewers work out of the box
	// A viewer that vanishes is failed (and freed) within 10 s, not ICE's default 30 s.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if len(o.NAT1To1IPs) > 0 { // host candidates carry these addresses instead of the local ones
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: o.NAT1To1IPs,
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}); err != nil {
			return nil, fmt.Errorf("rtcout: nat_1to1_ips: %w", err)
		}
	}
	// No mDNS: the host's candidates are its real addresses (it has no privacy to
	// keep), and Pion's mDNS responder is one more UDP socket on 5353 per viewer.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if f := interfaceFilter(o.ICEInterfaces); f != nil {
		se.SetInterfaceFilter(f)
	}
	// A viewer's data channel carries a few tiny messages to avhost (speech.go).
	// Pion's defaults advertise 1 GiB messages (a=max-message-size, RFC 8841), let
	// the association buffer 1 MiB and grow a channel's read buffer to its largest
	// message for the channel's life (Pion's read loop does not hold a message to the
	// max message size): a peer could make the host hold megabytes per viewer. Now
	// the answer asks for maxDataChannelBytes at most, and a peer ignoring it gets
	// no more than sctpReceiveBuffer of a message in: a larger one never completes.
	se.SetSCTPMaxMessageSize(maxDataChannelBytes)
	se.SetSCTPMaxReceiveBufferSize(sctpReceiveBuffer)
	o.Mux.apply(&se)
	b.se = se
	return b, nil
}

// api is an API over b; with bwe, its PeerConnection runs a GCC estimator of its
// own and hands it to bwe as NewPeerConnection builds it; with gate, the NACKs it
// answers pass the gate first; with watch, it reads the viewer's transport-wide CC
// feedback too. One API per viewer, so that the estimator cannot be
// handed to another viewer's handshake running at the same time (the callback only
// has Pion's PeerConnection id to go by).
func (b *apiBase) api(bwe func(cc.BandwidthEstimator), gate *nackGate, watch *queueWatch, streams *remoteStreams) (*webrtc.API, error) {
	ir := &interceptor.Registry{}
	if bwe != nil && b.twcc != nil {
		if watch != nil { // next to the transport: what it sees leave has its transport-wide number
			ir.Add(watch)
		}
		f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
			// No pacer (gcc's default leaky bucket queues without bound when sent
			// more than its target): the ladder keeps the rate, and a pacer's queue
			// would add latency to every frame.
			e, err := gcc.NewSendSideBWE(gcc.SendSideBWEInitialBitrate(initialEstimate),
				gcc.SendSideBWEMaxBitrate(maxEstimate), gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
			if err != nil {
				return nil, err
			}
			return rtxEstimator{e}, nil // rtx.go: its resends pass the estimator too
		})
		if err != nil {
			return nil, err
		}
		f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { bwe(e) })
		// Before the NACK responder: retransmissions are then budgeted by the
		// estimate (pion/interceptor's cc passes its target to the responder).
		ir.Add(f)
		ir.Add(b.twcc)
	}
	if gate != nil { // inside the responder: RTCP reaches it first
		ir.Add(gate)
	}
	ir.Add(b.nack)
	se := b.se
	if streams != nil { // streamcap.go: a viewer naming SSRCs without end is dropped
		se.BufferFactory = streams.buffer
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(b.m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// maxDataChannelBytes is the largest message avhost asks for on a data channel: far
// over signalproto.MaxDataChannelMessage (what it reads of one), and under Pion's
// first read buffer (64 KiB). sctpReceiveBuffer bounds what a viewer's SCTP
// association buffers (a message still arriving, or out of order), and so the
// largest message it can take.
const (
	maxDataChannelBytes = 16 << 10
	sctpReceiveBuffer   = 128 << 10
)

// GCC's bounds for a viewer: it starts where the top rendition fits (the viewer
// starts on it, as before the ladder) and never reports more than twice that, which
// no rung needs.
var (
	initialEstimate = 1_800_000
	maxEstimate     = 4_000_000
)

var (
	videoCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	audioCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
)
