package rtspout

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"

	"github.com/avhost/avhost/internal/auth"
)

// Readers log in with HTTP Digest (RFC 2617 §3.2.2, MD5, no qop: what ffmpeg,
// GStreamer's rtspsrc and live555/VLC all answer). Basic is not offered: it would put a
// token, possibly the host's, on the wire in clear.
//
// Each connection gets its own random nonce (128 bits) that expires after NonceTTL, so
// an answer captured on one connection is refused on every other, and on its own
// connection once the nonce has rotated; an answer that was right but late gets
// stale=TRUE and a fresh nonce, so players retry without asking for a password.
//
// Which password opens which path:
//   - a private stream (Access.ViewerToken set): the viewer token or the host token,
//     with any user name;
//   - a public stream, when Config.User is set: Config.User with Config.Pass, or the
//     host token with any user name;
//   - a public stream otherwise: anyone, no challenge.
//
// A path that names no stream answers 401 with the same challenge as a private stream
// the request may not read (404 only to the host token), so the answer never tells
// whether a private session exists. The work is the same too: two Digest candidates are
// computed for every request, against a random secret where a stream has fewer.

const realm = "avhost"

// NonceTTL is how long a connection's Digest nonce is accepted.
const NonceTTL = 60 * time.Second

// Access says who may read a stream.
type Access struct {
	// ViewerToken, if set, makes the stream private: the Digest password must be it
	// (or Config.HostToken), with any user name.
	ViewerToken string
}

// connAuth is one connection's Digest nonce.
type connAuth struct {
	mu     sync.Mutex
	nonce  string // current; "" until the first challenge
	issued time.Time
	old    string // the nonce before the last rotation: answered with stale=TRUE
}

// current returns the connection's nonce, rotating it when it has expired.
func (c *connAuth) current(now time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nonce == "" || now.Sub(c.issued) >= NonceTTL {
		c.old, c.nonce, c.issued = c.nonce, auth.RandomID(16), now
	}
	return c.nonce
}

// status says whether nonce is the connection's current one, or its expired one.
func (c *connAuth) status(nonce string, now time.Time) (fresh, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if auth.Equal(nonce, c.nonce) {
		if now.Sub(c.issued) < NonceTTL {
			return true, false
		}
		return false, true
	}
	return false, auth.Equal(nonce, c.old)
}

// verdict is the outcome of a request's credential check.
type verdict int

const (
	denied   verdict = iota // 401 with a challenge
	allowed                 // the stream may be read
	hostOnly                // the host token was given: it may learn that a path is unknown
	stale                   // right answer, expired nonce: 401 with stale=TRUE
)

// check decides whether req, on a connection with nonce state c, may read stream st
// (nil: no stream at that path). Secrets are compared in constant time.
func (s *Server) check(c *connAuth, req *base.Request, st *served, now time.Time) verdict {
	var acc Access
	if st != nil {
		acc = st.access
	}
	if st != nil && acc.ViewerToken == "" && s.cfg.User == "" {
		return allowed // a public stream on an open server
	}
	h, ok := parseDigest(req)
	pass, anyUser := s.dummy, false // the stream's own password, or a secret no one has
	switch {
	case st != nil && acc.ViewerToken != "":
		pass, anyUser = acc.ViewerToken, true
	case st != nil:
		pass = s.cfg.Pass
	}
	host := s.cfg.HostToken
	if host == "" {
		host = s.dummy
	}
	// Both candidates are always computed, whatever the path, so timing says nothing.
	userOK := anyUser || auth.Equal(h.Username, s.cfg.User)
	own := auth.Equal(h.Response, digest(h.Username, pass, h.Nonce, req.Method, h.URI)) && ok && userOK
	byHost := auth.Equal(h.Response, digest(h.Username, host, h.Nonce, req.Method, h.URI)) && ok
	if !own && !byHost {
		return denied
	}
	fresh, old := c.status(h.Nonce, now)
	switch {
	case !fresh && old:
		return stale
	case !fresh:
		return denied
	case st == nil:
		if byHost {
			return hostOnly
		}
		return denied
	}
	return allowed
}

// challenge is the 401 answer: a Digest challenge with the connection's nonce.
func challenge(c *connAuth, isStale bool, now time.Time) *base.Response {
	// The algorithm is named (RFC 2617 §3.2.1) and the only one offered: ffmpeg 5.1
	// keeps the last Digest challenge it sees and cannot answer SHA-256.
	md5 := headers.AuthAlgorithmMD5
	a := headers.Authenticate{Method: headers.AuthMethodDigest, Realm: realm, Nonce: c.current(now), Algorithm: &md5}
	if isStale {
		t := "TRUE"
		a.Stale = &t
	}
	return &base.Response{StatusCode: base.StatusUnauthorized, Header: base.Header{"WWW-Authenticate": a.Marshal()}}
}

// parseDigest reads req's Digest Authorization whose URI names req's resource.
func parseDigest(req *base.Request) (headers.Authorization, bool) {
	var h headers.Authorization
	if h.Unmarshal(req.Header["Authorization"]) != nil || h.Method != headers.AuthMethodDigest ||
		h.Realm != realm || (h.Algorithm != nil && *h.Algorithm != headers.AuthAlgorithmMD5) {
		return h, false
	}
	return h, sameResource(h.URI, req)
}

// sameResource reports whether a Digest uri names the request's resource. Paths are
// compared, not hosts: behind NAT or a proxy a player may name the host differently
// from how the request reached us. A SETUP may name the stream instead of its track
// (VLC does).
func sameResource(uri string, req *base.Request) bool {
	u, err := base.ParseURL(uri)
	if err != nil || req.URL == nil {
		return false
	}
	got, want := strings.Trim(u.Path, "/"), strings.Trim(req.URL.Path, "/")
	if got == want {
		return true
	}
	if req.Method == base.Setup {
		if i := strings.LastIndex(want, "/trackID="); i >= 0 {
			return got == want[:i]
		}
	}
	return false
}

// digest is the RFC 2617 §3.2.2.1 request-digest without qop.
func digest(user, pass, nonce string, method base.Method, uri string) string {
	ha1 := md5Hex(user + ":" + realm + ":" + pass)
	ha2 := md5Hex(string(method) + ":" + uri)
	return md5Hex(ha1 + ":" + nonce + ":" + ha2)
}

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
