package whip

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Where a publish may connect. Naming the endpoint needs the host token, but an
// endpoint on this host's loopback, its private network or a cloud metadata address
// (169.254.169.254) would make publishing a probe of what only this host can reach,
// and the status (could not connect, timed out, answered 404) a port scanner. So the
// dialer refuses, before any packet is sent, an address that is not public, unless the
// operator listed the URL's host in publish_allow: then it goes wherever that host
// resolves. The check is on the address being dialled, after DNS, so a public name
// that resolves (or rebinds) to 127.0.0.1 is refused too. ICE (Pion) is not HTTP and
// is not covered here: a WebRTC peer can only reach addresses the answer names, and
// it speaks STUN and DTLS, not a request of the caller's choosing.

// errNotPublic is what the dialer refuses a non-public address with.
var errNotPublic = errors.New("not a public address")

// notPublic are ranges that IsGlobalUnicast and IsPrivate leave as "global" but that
// are not on the public internet.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network" (RFC 791); 0.0.0.0 is this host on Linux
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space, carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and 255.255.255.255
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("2001:db8::/32"),  // documentation (RFC 3849)
	netip.MustParsePrefix("::/96"),          // IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)
}

// nat64 is the well-known NAT64 prefix (RFC 6052): an IPv6-only host reaches IPv4
// through it, so its address is as public as the IPv4 address it carries.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isPublic reports whether a publish may reach ip without its host being listed:
// global unicast, and not loopback, private (RFC 1918, ULA fc00::/7), link-local
// (169.254/16, fe80::/10), multicast, unspecified, shared or reserved, in any of its
// forms (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d).
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range notPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return !isLocal(ip)
}

// isLocal reports whether ip is one of this host's own addresses: its public address
// reaches services bound to all interfaces that a firewall keeps from the internet.
func isLocal(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: refuse
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if l, ok := netip.AddrFromSlice(n.IP); ok && l.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// refuseNotPublic is a net.Dialer Control: it runs after the socket is made and before
// connect(2), so a refused address sees no packet at all.
func refuseNotPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !isPublic(ap.Addr()) {
		return errNotPublic
	}
	return nil
}

// newWHIPClient is an HTTP client that follows no redirect (a 3xx comes back as the
// response, and is refused), so a request, and its bearer, only ever reaches the
// origin it was made for; that uses no proxy from the environment (a proxy would
// connect for us, past the address check); and, unless anyAddress, that connects to
// public addresses only.
func newWHIPClient(anyAddress bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !anyAddress {
		d.Control = refuseNotPublic
	}
	return &http.Client{
		Timeout:       whipTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            d.DialContext,
			TLSHandshakeTimeout:    5 * time.Second,
			ResponseHeaderTimeout:  10 * time.Second,
			MaxResponseHeaderBytes: maxWHIPHeaderLen,
			IdleConnTimeout:        30 * time.Second,
			ForceAttemptHTTP2:      true,
		},
	}
}

// The two clients: publicWHIPClient for any host, listedWHIPClient for the hosts the
// operator listed in publish_allow.
var (
	publicWHIPClient = newWHIPClient(false)
	listedWHIPClient = newWHIPClient(true)
)

// publishClient is the client for a publish to u: listedWHIPClient if the operator
// listed its host in allow (then it goes wherever the host is), else publicWHIPClient.
func publishClient(u *url.URL, allow []string) *http.Client {
	if len(allow) > 0 && hostAllowed(u, allow) {
		return listedWHIPClient
	}
	return publicWHIPClient
}
