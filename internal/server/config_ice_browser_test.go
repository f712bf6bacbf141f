package server_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The demo page takes the ICE servers of avhost.yaml from the answer (WHEP Link
// headers, /ws ice_servers) into its RTCPeerConnection, and still plays on loopback
// though the sample's servers do not exist.
func TestConfigICEServersReachThePage(t *testing.T) {
	if os.Getenv("AVHOST_NO_BROWSER") != "" {
		t.Skip("AVHOST_NO_BROWSER set")
	}
	h, sample := sampleHost(t)
	turn := sample.WebRTC.ICEServers[1]
	for _, via := range []string{"ws", "whep"} {
		t.Run("via "+via, func(t *testing.T) {
			ctx := browser(t)
			if err := chromedp.Run(ctx, chromedp.Navigate(h.web+"/?via="+via+"#token="+token)); err != nil {
				t.Fatal(err)
			}
			var st pageStats
			var ice string
			for {
				if err := chromedp.Run(ctx,
					chromedp.Evaluate(`window.avhostStats || {}`, &st),
					chromedp.Evaluate(`window.avhostPC ? JSON.stringify(window.avhostPC.getConfiguration().iceServers) : ''`, &ice)); err != nil {
					t.Fatal(err)
				}
				if st.FramesDecoded > 10 && strings.Contains(ice, turn.URLs[0]) {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("frames decoded %.0f, the page's ICE servers %s; want it playing with %s", st.FramesDecoded, ice, turn.URLs[0])
				case <-time.After(250 * time.Millisecond):
				}
			}
			if !strings.Contains(ice, `"username":"`+turn.Username+`"`) || !strings.Contains(ice, `"credential":"`+turn.Credential.(string)+`"`) {
				t.Fatalf("the page's ICE servers %s lack the TURN credentials", ice)
			}
		})
	}
}
