package rtcout

import (
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"
)

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

// rtxEstimator is a viewer's GCC estimator that also carries its RTX stream. The
// estimator's writer (through its pacer, even gcc's no-op one) sends only on the
// SSRCs it was given in AddStream, one per track, and drops the rest with
// gcc.ErrUnknownStream; but the NACK responder, inside it in the chain, writes its
// resends on the track's RTX SSRC. Measured before this, a viewer with the ladder
// on (the only viewers with an estimator) got no RTX at all: Chrome at 2 % loss
// froze 8 times in 30 s. Each track's RTX SSRC is added as a stream of its own,
// written by the same writer, so resends reach the wire and count in the
// transport-wide feedback GCC reads, as the media does.
type rtxEstimator struct{ cc.BandwidthEstimator }

func (e rtxEstimator) AddStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	out := e.BandwidthEstimator.AddStream(info, w)
	if info.SSRCRetransmission != 0 {
		rtx := *info
		rtx.SSRC = info.SSRCRetransmission
		e.BandwidthEstimator.AddStream(&rtx, w)
	}
	return out
}
