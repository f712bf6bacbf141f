package server

import "net/http"

// contentSecurityPolicy is every response's CSP (the page, its scripts, the API). The
// page loads its scripts, style and AudioWorklet from this origin only and runs no
// inline code, so injected markup cannot run script; Trusted Types make the DOM's
// HTML-parsing sinks (innerHTML and friends) throw on plain strings, so a slip in the
// page fails loudly instead of parsing data as markup. connect-src 'self' covers the
// page's fetches and its /ws WebSocket (CSP 3 matches ws:/wss: of the same host);
// WebRTC media is not governed by CSP.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// securityHeaders sets the CSP, stops MIME sniffing (a JSON answer is never run as a
// script) and keeps URLs out of Referer headers.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
