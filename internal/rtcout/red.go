package rtcout

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Audio redundancy (RFC 2198, "red" with Opus, as Chrome and Safari offer it:
// a=rtpmap:63 red/48000/2, a=fmtp:63 111/111): each audio packet carries the
// previous Opus frame again beside its own, so the browser's jitter buffer rebuilds
// any single lost packet from the next one, whole. Opus in-band FEC (fecloss.go in
// internal/stream) does not do that for this content: libopus adds its redundant
// copy (LBRR) only to frames its voice activity detector calls active, so silence,
// tones and the pauses between words go unprotected; measured with the sync pattern
// (an 80 ms tone a second over silence) at 2 % random loss, FEC mended 1 loss of 13.
// The cost is a second copy of every frame: about 64 kbit/s more per viewer that
// negotiates it (an RTP header's worth less than a packet of its own). A viewer
// whose offer has no RED gets plain Opus, with in-band FEC only.
const (
	redPayloadType = 63
	redMime        = "audio/red"
	// redMaxOffset and redMaxBlock are what a redundant block header can say:
	// a 14-bit timestamp offset and a 10-bit length (RFC 2198 §3).
	redMaxOffset = 1<<14 - 1
	redMaxBlock  = 1<<10 - 1
	// redBudget is what RED adds to a viewer's audio: the second copy of 64 kbit/s
	// Opus and 5 bytes of block headers a packet. The ladder counts it in each rung's
	// need (ladder.go's audioBudget covers the first copy).
	redBudget = 70_000
)

// redCap is the RED track's codec: Opus frames (payload type 111) in RED.
var redCap = webrtc.RTPCodecCapability{MimeType: redMime, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111"}

// registerRED lets viewers' answers take RED when an offer has it.
func registerRED(m *webrtc.MediaEngine) error {
	return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: redCap, PayloadType: redPayloadType}, webrtc.RTPCodecTypeAudio)
}

// offersRED says whether the offer's first audio section (the one the audio track
// goes on) negotiates RED over Opus on payload type 111 as redCap does (fmtp
// "111/111"), which is what Pion's answer can match: both payload types on its
// m-line and 111 mapped to Opus. An rtpmap alone is not an offer: Pion negotiates
// only the m-line's formats, and a RED track it cannot bind fails the handshake;
// RED blocks of payload type 111 where 111 is not Opus would be noise.
func offersRED(offer string) bool {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		red, opus := "", false
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, codec, ok := strings.Cut(a.Value, " ")
			switch {
			case !ok:
			case strings.EqualFold(codec, "red/48000/2") && pt != "111":
				red = pt
			case pt == "111":
				opus = strings.EqualFold(codec, "opus/48000/2")
			}
		}
		if _, err := strconv.ParseUint(red, 10, 7); err != nil || !opus ||
			!slices.Contains(m.MediaName.Formats, red) || !slices.Contains(m.MediaName.Formats, "111") {
			return false
		}
		for _, a := range m.Attributes {
			if a.Key == "fmtp" && strings.TrimSpace(a.Value) == red+" 111/111" {
				return true
			}
		}
		return false
	}
	return false
}

// redWriter wraps a viewer's Opus packets in RED, each with the previous frame as
// its redundant block. It runs on the viewer's reader goroutine only.
type redWriter struct {
	prev   []byte
	prevTS uint32
	have   bool
}

// wrap returns p's RED packet: a new packet (p is the stream's, shared), whose
// payload type the track's binding sets.
func (w *redWriter) wrap(p *rtp.Packet) *rtp.Packet {
	const opus = 111
	off := p.Timestamp - w.prevTS
	out := &rtp.Packet{Header: p.Header}
	if w.have && off > 0 && off <= redMaxOffset && len(w.prev) <= redMaxBlock {
		b := make([]byte, 0, 5+len(w.prev)+len(p.Payload))
		b = append(b, 0x80|opus, byte(off>>6), byte(off&0x3f)<<2|byte(len(w.prev)>>8), byte(len(w.prev)), opus)
		b = append(b, w.prev...)
		out.Payload = append(b, p.Payload...)
	} else { // the first frame, or after a gap: the primary alone
		out.Payload = append([]byte{opus}, p.Payload...)
	}
	w.prev, w.prevTS, w.have = p.Payload, p.Timestamp, true // the stream's, never changed
	return out
}
