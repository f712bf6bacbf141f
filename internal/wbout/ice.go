package wbout

import (
	"net"
	"strconv"
	"strings"

	"github.com/avhost/avhost/internal/viewers"
)

// iceURIs turns ICE servers (RFC 7064/7065 URIs, as browsers take them) into what
// webrtcbin 1.22 takes: one "stun://host:port" for its stun-server property, and
// "turn(s)://user:pass@host:port[?transport=…]" for each TURN server, for its
// add-turn-server signal. It keeps the first STUN server (webrtcbin has room for one)
// and skips stuns: (libnice has no STUN over TLS) and TURN servers without a
// username, which no TURN server would take. The credentials go into the URI
// percent-encoded whole: a REST username is "expiry:user" and a base64 password has
// '/' and '+', and webrtcbin splits user from password at the first ':' and unescapes
// each (gstwebrtcice-nice.c, _parse_userinfo).
func iceURIs(servers []viewers.ICEServer) (stun string, turn []string) {
	for _, s := range servers {
		for _, u := range s.URLs {
			scheme, rest, ok := strings.Cut(u, ":")
			if !ok {
				continue
			}
			hostport, query, _ := strings.Cut(rest, "?")
			hostport, ok = withPort(hostport, scheme)
			if !ok {
				continue
			}
			switch scheme {
			case "stun":
				if stun == "" {
					stun = "stun://" + hostport
				}
			case "turn", "turns":
				if s.Username == "" {
					continue
				}
				uri := scheme + "://" + escapeUserinfo(s.Username) + ":" + escapeUserinfo(s.Credential) + "@" + hostport
				if t, ok := transport(query); ok {
					uri += "?transport=" + t
				}
				turn = append(turn, uri)
			}
		}
	}
	return stun, turn
}

// withPort checks host[:port] (an IPv6 literal in brackets) and adds the scheme's
// default port (RFC 7064 §3.1, RFC 7065 §3.1), which webrtcbin needs spelled out.
func withPort(hostport, scheme string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "3478"
		if scheme == "turns" || scheme == "stuns" {
			port = "5349"
		}
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" ||
		strings.ContainsAny(host, "/@?#%[] ") {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// transport is a TURN URI's transport parameter, if it is one webrtcbin knows.
func transport(query string) (string, bool) {
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == "transport" && (v == "udp" || v == "tcp") {
			return v, true
		}
	}
	return "", false
}

// escapeUserinfo percent-encodes every byte but RFC 3986's unreserved ones.
func escapeUserinfo(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
