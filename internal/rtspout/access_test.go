package rtspout

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

func request(t *testing.T, method base.Method, url string) *base.Request {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return &base.Request{Method: method, URL: u, Header: base.Header{}}
}

// answer signs req as a client (gortsplib's) would after challenge res.
func answer(t *testing.T, res *base.Response, req *base.Request, user, pass string) *base.Request {
	t.Helper()
	se := &auth.Sender{WWWAuth: res.Header["WWW-Authenticate"], User: user, Pass: pass}
	err := se.Initialize()
	if err != nil {
		t.Fatal(err)
	}
	r := *req
	r.Header = base.Header{}
	se.AddAuthorization(&r)
	return &r
}

func testServer() *Server {
	s := New(Config{User: "u", Pass: "p", HostToken: "host-token"})
	s.streams["pub"] = &served{}
	s.streams["priv"] = &served{access: Access{ViewerToken: "viewer-token"}}
	return s
}

func TestWhoMayReadWhat(t *testing.T) {
	s := testServer()
	now := time.Now()
	cases := []struct {
		name, path, user, pass string
		want                   verdict
	}{
		{"a private session opens to its viewer token with any user", "priv", "anyone", "viewer-token", allowed},
		{"a private session opens to its viewer token with an empty user", "priv", "", "viewer-token", allowed},
		{"a private session opens to the host token", "priv", "x", "host-token", allowed},
		{"a private session stays shut to the public credentials", "priv", "u", "p", denied},
		{"a private session stays shut to a wrong token", "priv", "x", "viewer-tokeN", denied},
		{"a public session opens to the public credentials", "pub", "u", "p", allowed},
		{"a public session needs the public user name too", "pub", "v", "p", denied},
		{"a public session opens to the host token", "pub", "x", "host-token", allowed},
		{"a public session stays shut to a viewer token of another", "pub", "x", "viewer-token", denied},
		{"an unknown path tells the host token it is unknown", "nope", "x", "host-token", hostOnly},
		{"an unknown path answers the public credentials as a private one", "nope", "u", "p", denied},
		{"an unknown path answers a guessed token as a private one", "nope", "x", "viewer-token", denied},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := &connAuth{}
			req := request(t, base.Describe, "rtsp://127.0.0.1:8554/"+c.path)
			if got := s.check(conn, req, s.streams[c.path], now); got != denied {
				t.Fatalf("without credentials: %v", got)
			}
			signed := answer(t, challenge(conn, false, now), req, c.user, c.pass)
			if got := s.check(conn, signed, s.streams[c.path], now); got != c.want {
				t.Fatalf("got verdict %d, want %d", got, c.want)
			}
		})
	}
}

func TestOpenServerNeedsNothingForPublicSessions(t *testing.T) {
	s := New(Config{HostToken: "host-token"})
	s.streams["pub"] = &served{}
	s.streams["priv"] = &served{access: Access{ViewerToken: "viewer-token"}}
	conn := &connAuth{}
	if got := s.check(conn, request(t, base.Describe, "rtsp://h/pub"), s.streams["pub"], time.Now()); got != allowed {
		t.Fatalf("public: %d", got)
	}
	for _, p := range []string{"priv", "nope"} {
		if got := s.check(conn, request(t, base.Describe, "rtsp://h/"+p), s.streams[p], time.Now()); got != denied {
			t.Fatalf("%s: %d", p, got)
		}
	}
}

func TestDigestNonceRotatesExpiresAndStaysOnItsConnection(t *testing.T) {
	s := testServer()
	st := s.streams["pub"]
	t0 := time.Now()
	a, b := &connAuth{}, &connAuth{}
	req := request(t, base.Describe, "rtsp://127.0.0.1:8554/pub")
	chA := challenge(a, false, t0)
	chB := challenge(b, false, t0)
	if chA.Header["WWW-Authenticate"][0] == chB.Header["WWW-Authenticate"][0] {
		t.Fatal("two connections got the same nonce")
	}
	signed := answer(t, chA, req, "u", "p")
	if got := s.check(a, signed, st, t0); got != allowed {
		t.Fatalf("answer on its own connection: %d", got)
	}
	if got := s.check(b, signed, st, t0); got != denied {
		t.Fatalf("answer replayed on another connection: %d", got)
	}
	late := t0.Add(NonceTTL + time.Second)
	if got := s.check(a, signed, st, late); got != stale {
		t.Fatalf("answer after the nonce expired: %d, want stale", got)
	}
	ch2 := challenge(a, true, late)
	h := ch2.Header["WWW-Authenticate"][0]
	if !strings.Contains(h, `stale="TRUE"`) || h == chA.Header["WWW-Authenticate"][0] {
		t.Fatalf("stale challenge %q (first was %q)", h, chA.Header["WWW-Authenticate"][0])
	}
	if got := s.check(a, answer(t, ch2, req, "u", "p"), st, late); got != allowed {
		t.Fatalf("answer to the new nonce: %d", got)
	}
	if got := s.check(a, signed, st, late); got != stale {
		t.Fatalf("the old answer after rotation: %d, want stale (never allowed)", got)
	}
	wrong := answer(t, chA, req, "u", "wrong")
	if got := s.check(a, wrong, st, late); got != denied {
		t.Fatalf("a wrong answer with the old nonce: %d, want denied (stale only for right answers)", got)
	}
}

func TestDigestAnswerIsForItsOwnResource(t *testing.T) {
	s := testServer()
	conn := &connAuth{}
	now := time.Now()
	ch := challenge(conn, false, now)
	forPub := answer(t, ch, request(t, base.Describe, "rtsp://127.0.0.1:8554/pub"), "x", "host-token")
	onPriv := request(t, base.Describe, "rtsp://127.0.0.1:8554/priv")
	onPriv.Header = forPub.Header
	if got := s.check(conn, onPriv, s.streams["priv"], now); got != denied {
		t.Fatalf("an answer for /pub used on /priv: %d", got)
	}
	setup := answer(t, ch, request(t, base.Setup, "rtsp://other-host:8554/priv"), "x", "host-token")
	onTrack := request(t, base.Setup, "rtsp://127.0.0.1:8554/priv/trackID=0")
	onTrack.Header = setup.Header
	if got := s.check(conn, onTrack, s.streams["priv"], now); got != allowed {
		t.Fatalf("a SETUP answer naming the stream (VLC), another host: %d", got)
	}
}
