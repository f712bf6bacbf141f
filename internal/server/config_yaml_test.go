package server_test

import (
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/avhost/avhost/internal/server"
)

// The webrtc keys docs/signaling.md names load (rtcout.Options was embedded without
// ",inline", so they were silently dropped).
func TestWebRTCYAMLKeysLoad(t *testing.T) {
	const doc = `
webrtc:
  ice_servers:
    - urls: ["stun:stun.example:3478"]
  nat_1to1_ips: ["203.0.113.7"]
  nack_buffer: 512
  connect_timeout: 5s
  max_viewers: 7
`
	var c server.Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	w := c.WebRTC
	if len(w.ICEServers) != 1 || w.ICEServers[0].URLs[0] != "stun:stun.example:3478" ||
		len(w.NAT1To1IPs) != 1 || w.NACKBuffer != 512 || w.ConnectTimeout.Seconds() != 5 || w.MaxViewers != 7 {
		t.Fatalf("webrtc keys not loaded: %+v", w)
	}
}
