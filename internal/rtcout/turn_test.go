package rtcout

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The password is the TURN REST scheme's, as coturn recomputes it: base64 of the
// HMAC-SHA1 of the username under the shared secret (checked against
// `printf %s 1433895918:alice | openssl dgst -sha1 -hmac north -binary | base64`).
func TestTURNPasswordIsTheRESTSchemes(t *testing.T) {
	if got := TURNPassword("north", "1433895918:alice"); got != "RqMvcGPYTJMGThVLSi4amT4zFtI=" {
		t.Fatalf("got %q", got)
	}
}

func TestTURNMintsAFreshCredentialThatExpires(t *testing.T) {
	turn := TURN{URLs: []string{"turn:turn.example:3478"}, Secret: "s", TTL: 10 * time.Minute}
	now := time.Unix(1_700_000_000, 0)
	a, b := turn.Mint(now), turn.Mint(now)
	m := regexp.MustCompile(`^(\d+):v[0-9a-f]{12}$`).FindStringSubmatch(a.Username)
	if m == nil {
		t.Fatalf("username %q: want expiry:v<12 hex>", a.Username)
	}
	if exp, _ := strconv.ParseInt(m[1], 10, 64); exp != now.Add(10*time.Minute).Unix() {
		t.Fatalf("expiry %d, want now+ttl", exp)
	}
	if a.Username == b.Username || a.Credential == b.Credential {
		t.Fatal("two mints gave the same credential: viewers cannot be told apart")
	}
	if a.Credential != TURNPassword("s", a.Username) {
		t.Fatal("the password is not the HMAC of the username")
	}
	if (TURN{URLs: turn.URLs}).Enabled() || (TURN{Secret: "s"}).Enabled() {
		t.Fatal("TURN without a secret or without URLs mints")
	}
	if n := len((Options{TURN: TURN{Secret: "s"}}).ICEServersFor(now)); n != 0 {
		t.Fatalf("%d ICE servers from a half-set TURN", n)
	}
}
