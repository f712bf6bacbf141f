package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A file that says something avhost would not do as written stops it, with the line.
func TestConfigStrictDecodingNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"a misspelt nested key is refused with its path and line",
			"listen: \":8080\"\nwebrtc:\n  max_viewers: 10\n  iceservers:\n    - urls: [\"stun:stun.example.net\"]\n",
			`line 4: unknown key "webrtc.iceservers"`},
		{"a misspelt top-level key is refused",
			"max_session: 4\n", `line 1: unknown key "max_session"`},
		{"an unknown key inside a list item is refused",
			"webrtc:\n  ice_servers:\n    - urls: [\"turn:t.example.net\"]\n      credential_type: password\n",
			`line 4: unknown key "webrtc.ice_servers[0].credential_type"`},
		{"an unknown key under a publication is refused",
			"publish:\n  a:\n    url: https://x.example.net/whip\n    retries: 3\n",
			`line 4: unknown key "publish.a.retries"`},
		{"a Go field name that is no key is refused",
			"net:\n  keepaliveidle: 1s\n", `line 2: unknown key "net.keepaliveidle"`},
		{"a duplicate key is refused",
			"listen: \":1\"\nmax_sessions: 2\nlisten: \":2\"\n", "line 3"},
		{"a value of the wrong type is refused",
			"session:\n  width: wide\n", "line 2: cannot unmarshal"},
		{"a bad duration is refused",
			"ping_interval: often\n", "line 1"},
		{"a second document is refused",
			"listen: \":1\"\n---\nlisten: \":2\"\n", "line 2: a second YAML document"},
		{"a CR or LF in an ICE credential is refused",
			"webrtc:\n  ice_servers:\n    - urls: [\"turn:t.example.net\"]\n      username: u\n      credential: \"p\\r\\nX-Evil: 1\"\n",
			"webrtc.ice_servers[0]: username or credential has a control character"},
		{"an ICE URL that is not STUN or TURN is refused",
			"webrtc:\n  ice_servers:\n    - urls: [\"http://t.example.net\"]\n", "is not a stun:"},
		{"an ICE URL with an angle bracket is refused",
			"webrtc:\n  ice_servers:\n    - urls: [\"stun:a>; rel=x\"]\n", "angle bracket"},
		{"a TURN credential good for years is refused",
			"webrtc:\n  turn:\n    urls: [\"turn:t.example.net\"]\n    secret: s\n    ttl: 8760h\n", "webrtc.turn.ttl: 8760h0m0s (1m to 24h0m0s)"},
		{"a TURN credential dead on arrival is refused",
			"webrtc:\n  turn:\n    urls: [\"turn:t.example.net\"]\n    secret: s\n    ttl: 500ms\n", "webrtc.turn.ttl: 500ms"},
		{"a non-string ICE credential is refused",
			"webrtc:\n  ice_servers:\n    - urls: [\"turn:t.example.net\"]\n      credential: 1234\n", "credential: not a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig([]byte(tc.doc))
			if err == nil {
				t.Fatalf("loaded; want an error with %q", tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want one that wraps ErrConfig and says %q", err, tc.want)
			}
		})
	}
}

// A file whose merge keys would take exponential work to walk is refused at once: each
// mapping merges the one before twice, 2^26 mappings from 27 lines.
func TestConfigMergeKeysCannotExplode(t *testing.T) {
	var b strings.Builder
	b.WriteString("publish:\n  x0: &x0 {url: \"https://a.example/whip\"}\n")
	for i := 1; i <= 26; i++ {
		fmt.Fprintf(&b, "  x%d: &x%d {<<: *x%d, <<: *x%d}\n", i, i, i-1, i-1)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadConfig([]byte(b.String())); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `line 3: key "publish.x1.<<" twice`) {
			t.Fatalf("error %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadConfig still walking 27 lines after 5 s")
	}
}

// What a file leaves out keeps its default; what it sets wins.
func TestConfigFileOverDefaults(t *testing.T) {
	c, err := LoadConfig([]byte("# comments only\nsession:\n  width: 640\ndemo: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.Width != 640 || c.Session.Height != 512 || *c.Demo || c.Listen != ":8080" {
		t.Fatalf("width %d height %d demo %v listen %q", c.Session.Width, c.Session.Height, *c.Demo, c.Listen)
	}
	if d := DefaultConfig(); !*d.Demo {
		t.Fatal("decoding demo: false changed the next DefaultConfig")
	}
	if c, err := LoadConfig(nil); err != nil || c.Listen != ":8080" {
		t.Fatalf("an empty file: %v, listen %q", err, c.Listen)
	}
}
