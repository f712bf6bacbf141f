package netopt

import (
	"net"
	"net/netip"
)

// ClientKey is the key per-address caps count a peer under: its IPv4 address, or the
// /64 of its IPv6 address. One IPv6 host holds a whole /64 (SLAAC, privacy
// addresses), so counting full IPv6 addresses would give it 2^64 fresh budgets.
// addr is "host:port" (http.Request.RemoteAddr, net.Addr.String()) or a bare host.
func ClientKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
