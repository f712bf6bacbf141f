package rtcout

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

const chromeAudio = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"

func TestOffersRED(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		want      bool
	}{
		{"Chrome's offer has RED over Opus 111", chromeAudio, true},
		{"an offer without RED has none", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", false},
		{"RED over another payload type is not what the answer can match", strings.Replace(chromeAudio, "111/111", "109/109", 1), false},
		{"RED on a video section does not count", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 63\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n", false},
		{"garbage is no offer", "not sdp", false},
		{"RED in an rtpmap but not on the m-line is not negotiated", strings.Replace(chromeAudio, "111 63", "111", 1), false},
		{"RED without Opus on 111 has no primary to carry", strings.Replace(chromeAudio, "a=rtpmap:111 opus", "a=rtpmap:111 G722", 1), false},
		{"only the first audio section carries the track", strings.Replace(chromeAudio, "m=audio", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=audio", 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := offersRED(tc.sdp); got != tc.want {
				t.Fatalf("offersRED = %v, want %v", got, tc.want)
			}
		})
	}
}

// RFC 2198 §3: a redundant block header (F=1, PT, 14-bit timestamp offset, 10-bit
// length), the primary's (F=0, PT), then the blocks' data in the same order.
func TestREDCarriesThePreviousFrame(t *testing.T) {
	var w redWriter
	a := &rtp.Packet{Header: rtp.Header{SequenceNumber: 7, Timestamp: 1000}, Payload: []byte{1, 2, 3}}
	b := &rtp.Packet{Header: rtp.Header{SequenceNumber: 8, Timestamp: 1960}, Payload: []byte{4, 5}}
	first := w.wrap(a)
	if !bytes.Equal(first.Payload, []byte{111, 1, 2, 3}) {
		t.Fatalf("first packet %v: want the primary alone", first.Payload)
	}
	second := w.wrap(b)
	want := []byte{0x80 | 111, 960 >> 6, (960 & 0x3f) << 2, 3, 111, 1, 2, 3, 4, 5}
	if !bytes.Equal(second.Payload, want) {
		t.Fatalf("second packet %v, want %v", second.Payload, want)
	}
	if second.SequenceNumber != 8 || second.Timestamp != 1960 {
		t.Fatalf("header changed: %+v", second.Header)
	}
	if !bytes.Equal(a.Payload, []byte{1, 2, 3}) || !bytes.Equal(b.Payload, []byte{4, 5}) {
		t.Fatal("the stream's packets were changed")
	}
	// After a gap too long for the 14-bit offset, the primary goes alone.
	c := &rtp.Packet{Header: rtp.Header{Timestamp: 1960 + redMaxOffset + 1}, Payload: []byte{9}}
	if got := w.wrap(c).Payload; !bytes.Equal(got, []byte{111, 9}) {
		t.Fatalf("after a gap: %v", got)
	}
}
