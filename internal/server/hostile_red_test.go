package server_test

import (
	"strings"
	"testing"

	"github.com/avhost/avhost/internal/server"
)

// TestWHEPOddREDOffers: offers whose RED (RFC 2198) lines are odd are answered, or
// refused as bad offers, never with a 5xx (nor a crash), on either backend; on Pion,
// one that names RED in an rtpmap but not on its audio m-line (so RED is not
// negotiated) gets plain Opus, like an offer without RED, rather than a refusal.
func TestWHEPOddREDOffers(t *testing.T) {
	for _, backend := range []string{"pion", "webrtcbin"} {
		t.Run(backend, func(t *testing.T) { oddREDOffers(t, backend) })
	}
}

// oddREDOffers runs them against backend (webrtcbin has no RED: it answers plain
// Opus, or refuses).
func oddREDOffers(t *testing.T, backend string) {
	h := viewersHost(t, func(c *server.Config) { c.Session.Backend = backend })
	base := recvOffer(t)
	red := "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"
	withAudioLines := func(sdp, lines string) string {
		i := strings.Index(sdp, "m=audio")
		j := strings.Index(sdp[i:], "a=rtpmap:111")
		return sdp[:i+j] + lines + sdp[i+j:]
	}
	for _, c := range []struct {
		name, offer string
		want        int // 0: any status below 500
		plainOpus   bool
	}{
		{"RED in an rtpmap, not on the m-line", withAudioLines(base, red), 201, true},
		{"RED on the m-line, RED first (a control: RED is answered)", strings.Replace(withAudioLines(base, red), "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 63 111", 1), 201, false},
		{"RED with no Opus", strings.Replace(strings.Replace(withAudioLines(base, red), "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 63", 1), "a=rtpmap:111 opus/48000/2", "", 1), 0, false},
		{"RED on payload type 111 itself", strings.Replace(withAudioLines(base, "a=rtpmap:111 red/48000/2\r\na=fmtp:111 111/111\r\n"), "a=rtpmap:111 opus/48000/2", "a=rtpmap:109 opus/48000/2", 1), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(c.offer, "red/48000/2") {
				t.Fatalf("the munged offer has no RED:\n%s", c.offer)
			}
			rep := do(t, "POST", h.web+"/whep/demo", c.offer, sdpHeaders(""))
			t.Logf("status %d", rep.status)
			if rep.status >= 500 || (c.want != 0 && rep.status != c.want) {
				t.Fatalf("status %d (want %d): %s", rep.status, c.want, rep.body)
			}
			if backend == "pion" && rep.status == 201 && strings.Contains(strings.ToLower(rep.body), "red/48000") == c.plainOpus {
				t.Fatalf("RED in the answer: %v, want %v:\n%s", !c.plainOpus, !c.plainOpus, rep.body)
			}
			if rep.location != "" {
				do(t, "DELETE", h.web+rep.location, "", nil)
			}
		})
	}
}
