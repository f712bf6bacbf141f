package wbout

import (
	"net/url"
	"slices"
	"testing"

	"github.com/avhost/avhost/internal/viewers"
)

func TestICEURIs(t *testing.T) {
	rest := viewers.ICEServer{URLs: []string{"turn:turn.example.net?transport=udp", "turns:turn.example.net:443?transport=tcp"},
		Username: "1764160000:v0a1b2c3d4e5f", Credential: "a+b/c=="}
	for _, tc := range []struct {
		name      string
		servers   []viewers.ICEServer
		stun      string
		turn      []string
		user, pwd string // of turn[0], as webrtcbin reads them back
	}{
		{name: "a REST credential keeps its colon and base64 through the URI", servers: []viewers.ICEServer{rest},
			turn: []string{"turn://1764160000%3Av0a1b2c3d4e5f:a%2Bb%2Fc%3D%3D@turn.example.net:3478?transport=udp",
				"turns://1764160000%3Av0a1b2c3d4e5f:a%2Bb%2Fc%3D%3D@turn.example.net:443?transport=tcp"},
			user: "1764160000:v0a1b2c3d4e5f", pwd: "a+b/c=="},
		{name: "the first STUN server is kept, stuns: and TURN without a username are not",
			servers: []viewers.ICEServer{{URLs: []string{"stuns:s.example.net", "stun:[2001:db8::1]", "stun:s2.example.net:3479"}},
				{URLs: []string{"turn:t.example.net"}}},
			stun: "stun://[2001:db8::1]:3478"},
		{name: "a URI that is not host[:port] is skipped",
			servers: []viewers.ICEServer{{URLs: []string{"stun:a@b", "stun:h:99999", "turn:x/y"}, Username: "u", Credential: "p"}}},
		{name: "an unknown transport is left out", servers: []viewers.ICEServer{{URLs: []string{"turn:t:3478?transport=sctp"}, Username: "u@x", Credential: "p:q"}},
			turn: []string{"turn://u%40x:p%3Aq@t:3478"}, user: "u@x", pwd: "p:q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stun, turn := iceURIs(tc.servers)
			if stun != tc.stun || !slices.Equal(turn, tc.turn) {
				t.Fatalf("got %q %q, want %q %q", stun, turn, tc.stun, tc.turn)
			}
			if len(turn) == 0 {
				return
			}
			// webrtcbin splits the userinfo at its first ':' and unescapes each half.
			u, err := url.Parse(turn[0])
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := u.User.Password(); u.User.Username() != tc.user || p != tc.pwd {
				t.Fatalf("userinfo reads back as %q %q, want %q %q", u.User.Username(), p, tc.user, tc.pwd)
			}
		})
	}
}
