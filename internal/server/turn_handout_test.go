package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// Each viewer's answer carries a TURN credential of its own, minted from the shared
// secret (WHEP Link headers and the /ws ice_servers alike), after the static servers;
// the secret itself is in no answer, and the username names no token.
func TestTURNCredentialsMintedPerViewer(t *testing.T) {
	const secret = "turn-shared-secret-0123456789"
	turnURL := "turn:turn.example:3478?transport=udp"
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
		c.WebRTC.TURN = rtcout.TURN{URLs: []string{turnURL}, Secret: secret}
	})
	offer := recvOffer(t)
	whepServers := func() []string {
		resp, err := http.Post(h.web+"/whep/demo", "application/sdp", bytes.NewReader([]byte(offer)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		links := resp.Header.Values("Link")
		for _, l := range links {
			if strings.Contains(l, secret) {
				t.Fatalf("a Link header carries the secret: %s", l)
			}
		}
		servers := parseICELinks(links)
		if len(servers) != 1 || servers[0].URLs[0] != turnURL {
			t.Fatalf("Link headers %q: want the TURN server", links)
		}
		s := servers[0]
		if s.Credential != rtcout.TURNPassword(secret, s.Username) {
			t.Fatalf("credential %q is not the HMAC of username %q under the secret", s.Credential, s.Username)
		}
		if strings.Contains(s.Username, token) {
			t.Fatalf("username %q names the token", s.Username)
		}
		return []string{s.Username}
	}
	a, b := whepServers(), whepServers()
	if a[0] == b[0] {
		t.Fatalf("two WHEP viewers got the same TURN username %q", a[0])
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: offer})
	var m signalproto.Message
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	if err := ws.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	if m.Type != signalproto.TypeAnswer || len(m.ICEServers) != 1 {
		t.Fatalf("/ws answer: %+v, want one ICE server", m)
	}
	s := m.ICEServers[0]
	if s.URLs[0] != turnURL || s.Username == a[0] || s.Username == b[0] || s.Credential != rtcout.TURNPassword(secret, s.Username) {
		t.Fatalf("/ws ice_servers %+v: want a credential of its own for %s", s, turnURL)
	}
}

// A turn section that could not mint what it says is refused at load, naming the key.
func TestTURNConfigRefusedWhenHalfSet(t *testing.T) {
	for name, y := range map[string]string{
		"urls without a secret":  "webrtc:\n  turn:\n    urls: [\"turn:t.example:3478\"]\n",
		"a secret without urls":  "webrtc:\n  turn:\n    secret: x\n",
		"a URL that is not TURN": "webrtc:\n  turn:\n    urls: [\"http://t.example\"]\n    secret: x\n",
		"a negative ttl":         "webrtc:\n  turn:\n    urls: [\"turn:t.example\"]\n    secret: x\n    ttl: -1s\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := server.LoadConfig([]byte(y)); err == nil || !strings.Contains(err.Error(), "webrtc.turn") {
				t.Fatalf("LoadConfig: %v, want an error naming webrtc.turn", err)
			}
		})
	}
	if c, err := server.LoadConfig([]byte("webrtc:\n  ice_udp: \"-\"\n  ice_tcp: \"-\"\n")); err != nil || c.WebRTC.ICEUDP != "-" {
		t.Fatalf("ice_udp \"-\": %v %q", err, c.WebRTC.ICEUDP)
	}
}
