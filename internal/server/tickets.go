package server

import (
	"encoding/json"
	"net/http"

	"github.com/avhost/avhost/internal/auth"
)

// issueTicket is POST /api/tickets: a page trades its token (host or a session's viewer
// token, in the Authorization header) for a single-use ticket, valid 30 s, that it puts
// in the /ws URL: browsers cannot set headers on a WebSocket upgrade, and a ticket in a
// proxy log is worthless once used or expired.
func (s *Server) issueTicket(w http.ResponseWriter, r *http.Request) {
	cred := auth.Bearer(r)
	if !s.knownCredential(cred) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="avhost"`)
		http.Error(w, "needs a valid bearer token", http.StatusUnauthorized)
		return
	}
	t, err := s.tickets.Issue(cred)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"ticket": t, "expires_in": 30})
}

// knownCredential: the host token or some session's viewer token.
func (s *Server) knownCredential(cred string) bool {
	if cred == "" {
		return false
	}
	if s.isHostToken(cred) {
		return true
	}
	for _, ss := range s.Sessions.List() {
		if auth.Equal(cred, ss.Config().ViewerToken) {
			return true
		}
	}
	return false
}

// wsCredential is the credential of a /ws upgrade: its bearer header (non-browser
// clients), else the token its ?ticket= stands for (consumed here).
func (s *Server) wsCredential(r *http.Request) string {
	if c := auth.Bearer(r); c != "" {
		return c
	}
	if t := r.URL.Query().Get("ticket"); t != "" {
		if c, ok := s.tickets.Redeem(t); ok {
			return c
		}
	}
	return ""
}
