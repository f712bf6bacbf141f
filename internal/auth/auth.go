// Package auth holds the credential checks every avhost endpoint shares: bearer tokens
// read from the Authorization header only (never from a URL, where proxies and browser
// history keep them), compared in constant time, and short-lived single-use tickets
// that stand in for a token where a browser cannot send a header (WebSocket upgrades).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Bearer returns the token of an "Authorization: Bearer …" header, or "".
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// Equal compares two secrets in constant time; an empty want never matches. Both are
// hashed first: subtle.ConstantTimeCompare returns early on a length mismatch, which
// would tell an attacker the token's length.
func Equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// RandomID returns n random bytes as hex: resource ids and generated tokens.
func RandomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails on Linux (Go 1.24+ crashes instead of returning an error)
	return hex.EncodeToString(b)
}

// ErrTooManyTickets is returned when the outstanding-ticket cap is reached.
var ErrTooManyTickets = errors.New("auth: too many outstanding tickets")

// Tickets issues single-use tickets, each standing for the credential it was issued
// against, valid for TTL. The zero value is ready: TTL defaults to 30 s, Max to 10,000
// outstanding tickets (expired ones are swept when it is reached), PerCred to 16 per
// credential — past that a credential's oldest ticket is dropped, so one holder of a
// viewer token cannot use up the tickets everyone else needs.
type Tickets struct {
	TTL     time.Duration
	Max     int
	PerCred int

	mu     sync.Mutex
	m      map[string]ticket
	byCred map[string][]string // credential → its tickets, oldest first
}

type ticket struct {
	cred    string
	expires time.Time
}

// Issue returns a new ticket (128 random bits) for cred.
func (t *Tickets) Issue(cred string) (string, error) {
	ttl, max, per := t.TTL, t.Max, t.PerCred
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	if max == 0 {
		max = 10000
	}
	if per == 0 {
		per = 16
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m, t.byCred = map[string]ticket{}, map[string][]string{}
	}
	if own := t.byCred[cred]; len(own) >= per {
		t.drop(own[0])
	}
	if len(t.m) >= max {
		for k, v := range t.m {
			if now.After(v.expires) {
				t.drop(k)
			}
		}
		if len(t.m) >= max {
			return "", ErrTooManyTickets
		}
	}
	id := RandomID(16)
	t.m[id] = ticket{cred: cred, expires: now.Add(ttl)}
	t.byCred[cred] = append(t.byCred[cred], id)
	return id, nil
}

// drop forgets ticket id; t.mu is held.
func (t *Tickets) drop(id string) {
	v, ok := t.m[id]
	if !ok {
		return
	}
	delete(t.m, id)
	own := t.byCred[v.cred]
	for i, k := range own {
		if k == id {
			own = append(own[:i], own[i+1:]...)
			break
		}
	}
	if len(own) == 0 {
		delete(t.byCred, v.cred)
	} else {
		t.byCred[v.cred] = own
	}
}

// Redeem consumes a ticket and returns the credential it stands for.
func (t *Tickets) Redeem(id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[id]
	if !ok {
		return "", false
	}
	t.drop(id)
	if time.Now().After(v.expires) {
		return "", false
	}
	return v.cred, true
}
