package wbout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/avhost/avhost/internal/viewers"
)

// checkOffer refuses, before webrtcbin sees it, an offer whose audio or video
// section names on its m-line no codec the branch sends (H.264, Opus): GStreamer
// 1.22's webrtcbin dereferenced NULL on its own thread, taking the whole process
// down, for a video m-line carrying only RTX (TestWHEPOddRTXOffers). Webrtcbin
// answers such a section with nothing usable anyway.
func checkOffer(offer string) error {
	var d sdp.SessionDescription
	if d.UnmarshalString(offer) != nil { // the parser's error quotes the offer
		return fmt.Errorf("%w: unparsable SDP offer", viewers.ErrBadOffer)
	}
	for _, m := range d.MediaDescriptions {
		want := map[string]string{"video": "h264/90000", "audio": "opus/48000"}[m.MediaName.Media]
		if want == "" {
			continue // the data channel's, or one webrtcbin rejects itself
		}
		if !sendsCodec(m, want) {
			return fmt.Errorf("%w: its %s m-line has no %s", viewers.ErrBadOffer, m.MediaName.Media, want)
		}
	}
	return nil
}

// sendsCodec reports whether one of m's formats maps to codec (rtpmap, case
// folded, channels ignored).
func sendsCodec(m *sdp.MediaDescription, codec string) bool {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if ok && slices.Contains(m.MediaName.Formats, pt) && strings.HasPrefix(strings.ToLower(enc)+"/", codec+"/") {
			return true
		}
	}
	return false
}
