// Package auth holds the credential checks every avhost endpoint shares: bearer tokens
// read from the Authorization header only (never from a URL, where proxies and browser
// history keep them), compared in constant time, and short-lived single-use tickets
// that stand in for a token where a browser cannot send a header (WebSocket upgrades).
package auth

import (
	"crypto/rand"
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

// Equal compares two secrets in constant time; an empty want never matches.
func Equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
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
// outstanding tickets (expired ones are swept on each issue).
type Tickets struct {
	TTL time.Duration
	Max int

	mu sync.Mutex
	m  map[string]ticket
}

type ticket struct {
	cred    string
	expires time.Time
}

// Issue returns a new ticket (128 random bits) for cred.
func (t *Tickets) Issue(cred string) (string, error) {
	ttl, max := t.TTL, t.Max
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	if max == 0 {
		max = 10000
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]ticket{}
	}
	if len(t.m) >= max {
		for k, v := range t.m {
			if now.After(v.expires) {
				delete(t.m, k)
			}
		}
		if len(t.m) >= max {
			return "", ErrTooManyTickets
		}
	}
	id := RandomID(16)
	t.m[id] = ticket{cred: cred, expires: now.Add(ttl)}
	return id, nil
}

// Redeem consumes a ticket and returns the credential it stands for.
func (t *Tickets) Redeem(id string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[id]
	if !ok {
		return "", false
	}
	delete(t.m, id)
	if time.Now().After(v.expires) {
		return "", false
	}
	return v.cred, true
}
