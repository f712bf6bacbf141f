package whep

import (
	"net/http"
	"strings"

	"github.com/avhost/avhost/internal/viewers"
)

// iceLinks renders ICE servers as RFC 9725 §4.6 Link header values (the WHEP draft
// takes them over unchanged), one per URL:
//
//	<stun:stun.example.net>; rel="ice-server"
//	<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"
//
// The values are the operator's, checked at load (server.LoadConfig); a URL that could
// break out of its angle brackets or a value with a control character is still left
// out here, so no configuration can split or forge a header.
func iceLinks(servers []viewers.ICEServer) []string {
	var links []string
	for _, s := range servers {
		cred := s.Credential
		if unsafe(s.Username) || unsafe(cred) {
			continue
		}
		for _, u := range s.URLs {
			if unsafe(u) || strings.ContainsAny(u, "<>\" ") {
				continue
			}
			l := "<" + u + `>; rel="ice-server"`
			if s.Username != "" || cred != "" {
				l += "; username=" + quote(s.Username) + "; credential=" + quote(cred) + `; credential-type="password"`
			}
			links = append(links, l)
		}
	}
	return links
}

// setICELinks adds the Link headers of the servers servers returns (nil: none) to h.
func setICELinks(h http.Header, servers func() []viewers.ICEServer) {
	if servers == nil {
		return
	}
	for _, l := range iceLinks(servers()) {
		h.Add("Link", l)
	}
}

// quote is an RFC 9110 §5.6.4 quoted-string: '"' and '\' escaped with '\'.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func unsafe(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
