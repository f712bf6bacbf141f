package rtcout

import "github.com/pion/webrtc/v4"

// rtxPayloadType is the video retransmission stream's payload type (RFC 4588),
// paired with H.264's 102 (apt).
const rtxPayloadType = 103

// registerRTX offers RTX for viewers' video (RFC 4588, as browsers negotiate it):
// with it Pion gives each video sender an RTX SSRC (a=ssrc-group:FID) and the NACK
// responder resends a lost packet on it, with its original sequence number in the
// payload, instead of sending the same packet again on the media SSRC. The browser
// then tells repairs from media (its jitter buffer and its retransmission figures
// count them apart), and the resends still pass the viewer's nackGate first: the
// gate trims the NACK the responder reads, whatever SSRC the answer goes out on.
// A viewer whose offer has no RTX gets resends on the media SSRC, as before.
func registerRTX(m *webrtc.MediaEngine) error {
	return m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=102"},
		PayloadType:        rtxPayloadType,
	}, webrtc.RTPCodecTypeVideo)
}
