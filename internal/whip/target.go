package whip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// A WHIP endpoint is named by whoever holds the host token, but what it answers is
// the endpoint's. So outbound publishing is not a proxy: http(s) only, no redirects
// followed, bounded reads and timeouts, the bearer sent to the endpoint's origin only,
// and nothing the endpoint wrote (body, reason phrase) nor the URL's query or path
// (stream keys live there) ever copied into a status or a log line. Where it may
// connect is in dial.go.

var (
	// ErrURL: the publish URL is not an absolute http(s) URL with a host, or
	// carries user info, or the token cannot travel in a header.
	ErrURL = errors.New("whip: bad WHIP publish target")
	// ErrHost: the URL's host is not in the publish allowlist.
	ErrHost = errors.New("whip: WHIP publish host not allowed")
)

const (
	maxAnswerBytes   = 64 << 10 // an SDP answer is a few KiB; more is not an answer
	whipTimeout      = 15 * time.Second
	whipDeleteWait   = 3 * time.Second
	maxWHIPHeaderLen = 64 << 10
)

// CheckTarget parses a WHIP endpoint URL and its bearer token: an absolute
// http or https URL with a host and no user info; when allow is not empty, a host it
// lists ("host" allows any port, "host:port" that port only). The errors name the
// scheme or host, never the query.
func CheckTarget(raw, token string, allow []string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrURL)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q (want http or https)", ErrURL, u.Scheme)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%w: no host", ErrURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: user info in the URL (give the credential as the token)", ErrURL)
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c >= 0x7f { // RFC 6750 §2.1 b64token: visible ASCII only
			return nil, fmt.Errorf("%w: token has a space or control character", ErrURL)
		}
	}
	u.Fragment, u.RawFragment = "", ""
	if len(allow) > 0 && !hostAllowed(u, allow) {
		return nil, fmt.Errorf("%w: %s is not in publish_allow", ErrHost, u.Host)
	}
	return u, nil
}

func hostAllowed(u *url.URL, allow []string) bool {
	host, port := u.Hostname(), effectivePort(u)
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if h, p, err := net.SplitHostPort(a); err == nil {
			if strings.EqualFold(h, host) && p == port {
				return true
			}
		} else if strings.EqualFold(strings.Trim(a, "[]"), host) {
			return true
		}
	}
	return false
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// origin is scheme://host:port, what status and logs show of an endpoint.
func origin(u *url.URL) string {
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), effectivePort(u))
}

func sameOrigin(a, b *url.URL) bool { return origin(a) == origin(b) }

// statusReason describes a response by its code alone: the reason phrase is the
// endpoint's text, as is the body, and neither is repeated.
func statusReason(what string, code int) error {
	text := http.StatusText(code)
	if text == "" {
		text = "unknown status"
	}
	if code >= 300 && code < 400 {
		return fmt.Errorf("%s answered %d %s: redirects are not followed", what, code, text)
	}
	return fmt.Errorf("%s answered %d %s", what, code, text)
}

// transportReason turns a failed request into a fixed reason: Go's errors carry the
// whole URL (query included), so they are not passed on.
func transportReason(what string, err error) error {
	var dns *net.DNSError
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var ne net.Error
	switch {
	case errors.Is(err, errNotPublic):
		return fmt.Errorf("%s: refused: the host is not at a public address (loopback, private, link-local or this host's own); list it in publish_allow to allow it", what)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: stopped", what)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: timed out", what)
	case errors.As(err, &dns):
		return fmt.Errorf("%s: host not found", what)
	case errors.As(err, &cert), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return fmt.Errorf("%s: TLS certificate not accepted", what)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%s: could not connect", what)
	}
	return fmt.Errorf("%s: request failed", what)
}
