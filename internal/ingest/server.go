package ingest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/session"
)

// Server is the ingest endpoint; mount it as an http.Handler.
type Server struct {
	cfg      Config
	upgrader websocket.Upgrader

	mu     sync.Mutex
	perIP  map[string]int
	owner  map[string]*conn       // session id → connection that drives it
	grace  map[string]*time.Timer // detached sessions waiting for resume
	conns  map[*conn]struct{}
	closed bool
}

// New returns an ingest server.
func New(cfg Config) *Server {
	cfg.fill()
	s := &Server{cfg: cfg, perIP: map[string]int{}, owner: map[string]*conn{}, grace: map[string]*time.Timer{}, conns: map[*conn]struct{}{}}
	// Small buffers, and write buffers from a pool: an idle connection then costs a few
	// KiB, which is what lets one host hold tens of thousands of them.
	s.upgrader = websocket.Upgrader{CheckOrigin: s.checkOrigin, WriteBufferPool: &sync.Pool{}}
	return s
}

// CheckOrigin is the origin policy, for other WebSocket endpoints to share.
func (s *Server) CheckOrigin(r *http.Request) bool { return s.checkOrigin(r) }

// checkOrigin allows non-browser clients (no Origin), same-origin pages and the
// configured origins (RFC 6455 §10.2: the server decides on Origin).
func (s *Server) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(a, "/"), o) {
			return true
		}
	}
	return false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The token comes from the Authorization header only (auth.Bearer): ?token= would
	// end up in proxy logs and browser history.
	if !auth.Equal(auth.Bearer(r), s.cfg.Token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="avhost"`)
		http.Error(w, "ingest needs a valid bearer token", http.StatusUnauthorized)
		return
	}
	// The upgrader checks Origin (403 when refused).
	ip := netopt.ClientKey(r.RemoteAddr)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerAddr {
		s.mu.Unlock()
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	s.perIP[ip]++
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		release() // the upgrader has answered the client
		return
	}
	c := newConn(s, ws, ip)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go func() {
		c.run()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		release()
	}()
}

// claim makes c the owner of session id; false when another live connection owns it,
// unless take (a resume with the session's token) says to take it over.
func (s *Server) claim(id string, c *conn, take bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.owner[id]; o != nil && o != c {
		if !take {
			return false
		}
		o.mu.Lock()
		delete(o.sessions, id)
		o.mu.Unlock()
	}
	s.owner[id] = c
	if t := s.grace[id]; t != nil {
		t.Stop()
		delete(s.grace, id)
	}
	return true
}

// detach is called for each session of a closing connection: the session stays for
// ResumeGrace, then is closed unless resumed.
func (s *Server) detach(id string, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner[id] != c {
		return
	}
	delete(s.owner, id)
	if s.closed {
		return
	}
	s.grace[id] = time.AfterFunc(s.cfg.ResumeGrace, func() {
		s.mu.Lock()
		_, waiting := s.grace[id]
		delete(s.grace, id)
		s.mu.Unlock()
		if waiting {
			s.cfg.Log.Info("session not resumed in time, closing", "session", id)
			s.cfg.Sessions.Close(id)
		}
	})
}

func (s *Server) release(id string) {
	s.mu.Lock()
	delete(s.owner, id)
	s.mu.Unlock()
}

// Shutdown closes every connection with a going-away close frame (RFC 6455 §7.4.1,
// 1001) so clients reconnect elsewhere, and stops the grace timers.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for id, t := range s.grace {
		t.Stop()
		delete(s.grace, id)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway()
	}
}

// Drop closes every connection's TCP socket without a close handshake, as a network
// failure would (tests of reconnect and resume).
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.ws.NetConn().Close()
	}
}

// session returns the session if c owns it.
func (s *Server) session(id string, c *conn) (*session.Session, bool) {
	s.mu.Lock()
	own := s.owner[id] == c
	s.mu.Unlock()
	if !own {
		return nil, false
	}
	ss, err := s.cfg.Sessions.Get(id)
	return ss, err == nil
}
