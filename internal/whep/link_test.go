package whep

import (
	"reflect"
	"testing"

	"github.com/avhost/avhost/internal/viewers"
)

// Link values are RFC 9725 §4.6's, one per URL, with quoted-string escaping; a value
// that could split or forge a header never reaches one.
func TestICELinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []viewers.ICEServer
		want    []string
	}{
		{"a STUN server has no credentials",
			[]viewers.ICEServer{{URLs: []string{"stun:stun.example.net"}}},
			[]string{`<stun:stun.example.net>; rel="ice-server"`}},
		{"a TURN server has one link per URL, with its password credential",
			[]viewers.ICEServer{{URLs: []string{"turn:turn.example.net?transport=udp", "turns:turn.example.net:5349"}, Username: "u", Credential: "p"}},
			[]string{`<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`,
				`<turns:turn.example.net:5349>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`}},
		{"quotes and backslashes are escaped",
			[]viewers.ICEServer{{URLs: []string{"turn:t.example.net"}, Username: `a"b`, Credential: `c\d`}},
			[]string{`<turn:t.example.net>; rel="ice-server"; username="a\"b"; credential="c\\d"; credential-type="password"`}},
		{"CR or LF in a credential leaves the server out",
			[]viewers.ICEServer{{URLs: []string{"turn:t.example.net"}, Username: "u", Credential: "p\r\nSet-Cookie: x=1"},
				{URLs: []string{"stun:s.example.net"}}},
			[]string{`<stun:s.example.net>; rel="ice-server"`}},
		{"a URL that would leave its brackets is left out",
			[]viewers.ICEServer{{URLs: []string{"stun:a>; rel=\"x\"", "stun:b.example.net"}}},
			[]string{`<stun:b.example.net>; rel="ice-server"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := iceLinks(tc.servers); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
