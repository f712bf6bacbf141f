package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestMetricsCountViewersOfBothBackends: avhost_webrtc_viewers reads the viewers
// through the backend-neutral contract, so a webrtcbin session's viewers count as a
// Pion session's do. The offers never connect: a viewer counts from its offer on.
func TestMetricsCountViewersOfBothBackends(t *testing.T) {
	h := viewersHost(t, nil)
	privateSession(t, h, "wb", "webrtcbin")
	offer := recvOffer(t)
	for _, c := range []struct {
		session, authz string
		n              int
	}{{"demo", "", 2}, {"wb", "Bearer " + viewerToken, 1}} {
		for i := 0; i < c.n; i++ {
			if r := do(t, "POST", h.web+"/whep/"+c.session, offer, sdpHeaders(c.authz)); r.status != 201 {
				t.Fatalf("WHEP offer to %s: %d %s", c.session, r.status, r.body)
			}
		}
	}
	r := do(t, "GET", h.web+"/metrics", "", map[string]string{"Authorization": "Bearer " + token})
	for _, want := range []string{`avhost_webrtc_viewers{session="demo"} 2`, `avhost_webrtc_viewers{session="wb"} 1`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(r.body, "avhost_webrtc_viewers"))
		}
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			fmt.Fprintln(&b, l)
		}
	}
	return b.String()
}
