package stream

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOutputsKnowTheStreamNotEachOther checks the layering with the go tool itself:
// the outputs that are not WebRTC viewers read the stream and import no WebRTC stack
// (issue 11: RTSP served through a whole Pion API), and the session domain speaks no
// wire protocol.
func TestOutputsKnowTheStreamNotEachOther(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	const mod = "github.com/avhost/avhost/internal/"
	deps := func(t *testing.T, pkg string) []string {
		t.Helper()
		out, err := exec.Command(goTool, "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	cases := []struct {
		name      string
		pkg       string
		forbidden []string
		skip      string
	}{
		{"rtspout imports no Pion WebRTC", "rtspout", []string{"github.com/pion/webrtc"}, ""},
		{"the WHIP publisher imports no Pion WebRTC", "whip", []string{"github.com/pion/webrtc"}, ""},
		{"the runner imports no Pion WebRTC", "runner", []string{"github.com/pion/webrtc"}, ""},
		{"WHEP imports no backend", "whep", []string{"github.com/pion/webrtc", mod + "rtcout", mod + "wbout"}, ""},
		{"/ws signaling imports no backend", "signaling", []string{"github.com/pion/webrtc", mod + "rtcout", mod + "wbout", mod + "whep"}, ""},
		{"session imports no wire protocol", "session", []string{mod + "ingestproto", mod + "signalproto"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, d := range deps(t, c.pkg) {
				for _, f := range c.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						if c.skip != "" {
							t.Skip(c.skip)
						}
						t.Errorf("%s depends on %s", c.pkg, d)
					}
				}
			}
		})
	}
}
