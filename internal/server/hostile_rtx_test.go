package server_test

import (
	"strings"
	"testing"

	"github.com/avhost/avhost/internal/server"
)

// TestWHEPOddRTXOffers: offers whose RTX (RFC 4588) lines are odd (no apt, an apt
// naming nothing or a codec avhost does not send, RTX on H.264's own payload type)
// are answered with video or refused as bad offers, never a 5xx, and the host
// keeps serving a plain offer afterwards; on either backend. (Webrtcbin 1.22 took
// the process down with a segfault on its own thread for a video m-line with only
// RTX on it, before wbout checked offers.)
func TestWHEPOddRTXOffers(t *testing.T) {
	for _, backend := range []string{"pion", "webrtcbin"} {
		t.Run(backend, func(t *testing.T) { oddRTXOffers(t, backend) })
	}
}

func oddRTXOffers(t *testing.T, backend string) {
	h := viewersHost(t, func(c *server.Config) { c.Session.Backend = backend })
	base := recvOffer(t)
	withVideo := func(formats, lines string) string {
		s := strings.Replace(base, "m=video 9 UDP/TLS/RTP/SAVPF 102", "m=video 9 UDP/TLS/RTP/SAVPF "+formats, 1)
		i := strings.Index(s, "a=rtpmap:102")
		return s[:i] + lines + s[i:]
	}
	for _, c := range []struct{ name, offer string }{
		{"RTX without apt", withVideo("102 103", "a=rtpmap:103 rtx/90000\r\n")},
		{"RTX whose apt names nothing", withVideo("102 103", "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=99\r\n")},
		{"RTX whose apt is not a number", withVideo("102 103", "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=x;apt=\r\n")},
		{"RTX whose apt is itself", withVideo("102 103", "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=103\r\n")},
		{"RTX for a codec avhost does not send", withVideo("102 96 97", "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n")},
		{"RTX only, no H.264", withVideo("103", "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n")},
		{"video with VP8 only", withVideo("96", "a=rtpmap:96 VP8/90000\r\n")},
		{"audio with RED only", strings.Replace(strings.Replace(base, "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 63", 1), "a=rtpmap:111 opus/48000/2", "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111", 1)},
		{"two RTX for H.264", withVideo("102 103 104", "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:104 rtx/90000\r\na=fmtp:104 apt=102\r\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := do(t, "POST", h.web+"/whep/demo", c.offer, sdpHeaders(""))
			t.Logf("status %d", rep.status)
			if rep.status >= 500 {
				t.Fatalf("status %d: %s", rep.status, rep.body)
			}
			if rep.location != "" {
				do(t, "DELETE", h.web+rep.location, "", nil)
			}
		})
	}
	if rep := do(t, "POST", h.web+"/whep/demo", base, sdpHeaders("")); rep.status != 201 {
		t.Fatalf("a plain offer after them: %d %s", rep.status, rep.body)
	}
}
