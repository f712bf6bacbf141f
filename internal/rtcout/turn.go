package rtcout

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// TURN is a TURN server that takes ephemeral credentials (the "TURN REST API" scheme,
// draft-uberti-behave-turn-rest-00 §2.2, which coturn implements as use-auth-secret):
// avhost and the server share Secret; each viewer gets a username "expiry:user" and
// the password base64(HMAC-SHA1(Secret, username)), which the server recomputes and
// accepts until expiry. The secret never leaves the host; a leaked credential is good
// for TTL only.
type TURN struct {
	// URLs are the server's turn:/turns: (and stun:) URIs, e.g.
	// "turn:turn.example.net:3478?transport=udp"; none: no TURN.
	URLs []string `yaml:"urls"`
	// Secret is coturn's static-auth-secret. Empty: no TURN.
	Secret string `yaml:"secret"`
	// TTL is how long a minted credential is good for; defaults to 1 h (a
	// configuration file takes 1 min to 24 h). A viewer needs
	// it only to allocate and refresh: an allocation outlives the credential's expiry
	// only if refreshed, which the viewer's ICE agent does with the same credential,
	// so a session longer than TTL keeps its relay only if the server does not check
	// expiry on refresh (coturn does not).
	TTL time.Duration `yaml:"ttl"`
}

// DefaultTURNTTL is TURN.TTL's default.
const DefaultTURNTTL = time.Hour

// Enabled says whether t mints anything.
func (t TURN) Enabled() bool { return len(t.URLs) > 0 && t.Secret != "" }

// Mint returns a fresh credential for t's URLs, good until now+TTL. The user part of
// the username is a random label: it names no token, no session and no address, yet
// tells one viewer's allocations from another's in the server's log.
func (t TURN) Mint(now time.Time) webrtc.ICEServer {
	ttl := t.TTL
	if ttl <= 0 {
		ttl = DefaultTURNTTL
	}
	var b [6]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	user := strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":v" + hex.EncodeToString(b[:])
	return webrtc.ICEServer{URLs: t.URLs, Username: user, Credential: TURNPassword(t.Secret, user),
		CredentialType: webrtc.ICECredentialTypePassword}
}

// TURNPassword is the REST scheme's password for username: base64(HMAC-SHA1(secret,
// username)).
func TURNPassword(secret, username string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ICEServersFor returns the ICE servers to hand one peer: the static ones as they
// are, and a freshly minted credential for the TURN server, if any.
func (o Options) ICEServersFor(now time.Time) []webrtc.ICEServer {
	out := append([]webrtc.ICEServer(nil), o.ICEServers...)
	if o.TURN.Enabled() {
		out = append(out, o.TURN.Mint(now))
	}
	return out
}
