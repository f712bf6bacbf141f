package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// The demo page takes the ICE servers of avhost.yaml from the answer (WHEP Link
// headers, /ws ice_servers) into its RTCPeerConnection, and still plays on loopback
// though the sample's servers do not exist.
func TestConfigICEServersReachThePage(t *testing.T) {
	testenv.RequireBrowser(t)
	h, sample := sampleHost(t)
	turn := sample.WebRTC.ICEServers[1]
	for _, via := range []string{"ws", "whep"} {
		t.Run("via "+via, func(t *testing.T) {
			ctx := browser(t)
			if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?via="+via+"#token="+token)); err != nil {
				t.Fatal(err)
			}
			var ice string
			waitStats(t, ctx, func(st pageStats) bool {
				var err error
				ice, err = chromedp.Run(ctx, chromedp.Evaluate[string](`window.avhostPC ? JSON.stringify(window.avhostPC.getConfiguration().iceServers) : ''`))
				if err != nil {
					t.Fatal(err)
				}
				return st.FramesDecoded > 10 && strings.Contains(ice, turn.URLs[0])
			})
			if !strings.Contains(ice, `"username":"`+turn.Username+`"`) || !strings.Contains(ice, `"credential":"`+turn.Credential.(string)+`"`) {
				t.Fatalf("the page's ICE servers %s lack the TURN credentials", ice)
			}
		})
	}
}
