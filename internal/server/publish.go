package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/whip"
)

// Every publish route needs the host token: starting one makes this host send requests
// where the caller says, and the status names where it publishes.

// checkPublishConfig checks the publications of the configuration file at start, so a
// bad entry stops avhost serve instead of failing when its session appears.
func checkPublishConfig(cfg Config) error {
	for id, pc := range cfg.Publish {
		if _, err := whip.CheckTarget(pc.URL, pc.Token, cfg.PublishAllow); err != nil {
			return fmt.Errorf("publish %q: %w", id, err)
		}
	}
	return nil
}

// publish (re)starts publishing session id to a WHIP endpoint, with the host's
// allowlist and, for what pc leaves unset, its retry bounds.
func (s *Server) publish(id string, pc whip.Config) error {
	h, err := s.find(id)
	if err != nil {
		return err
	}
	pc.Allow = s.cfg.PublishAllow
	d := s.cfg.PublishRetry
	if pc.MinBackoff == 0 {
		pc.MinBackoff = d.MinBackoff
	}
	if pc.MaxBackoff == 0 {
		pc.MaxBackoff = d.MaxBackoff
	}
	if pc.MaxAttempts == 0 {
		pc.MaxAttempts = d.MaxAttempts
	}
	p, err := whip.Publish(pc, h.pion.NewPublishPeer, s.cfg.Log.With("session", id))
	if err != nil {
		s.cfg.Log.Warn("WHIP publish refused", "session", id, "err", err)
		return err
	}
	s.hmu.Lock()
	if s.hosted[id] != h { // the session closed meanwhile: nothing would stop p
		s.hmu.Unlock()
		p.Stop()
		return session.ErrNotFound
	}
	old := h.pub
	h.pub = p
	s.hmu.Unlock()
	if old != nil {
		old.Stop()
	}
	return nil
}

type publishRequest struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// startPublish is POST /api/sessions/{id}/whip {"url": …, "token": …}.
func (s *Server) startPublish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.URL == "" {
		http.Error(w, `want {"url": "https://sfu/whip/...", "token": "…"}`, http.StatusBadRequest)
		return
	}
	if err := s.publish(r.PathValue("id"), whip.Config{URL: req.URL, Token: req.Token}); err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, whip.ErrHost):
			status = http.StatusForbidden
		case errors.Is(err, session.ErrNotFound):
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// stopPublish is DELETE /api/sessions/{id}/whip.
func (s *Server) stopPublish(w http.ResponseWriter, r *http.Request) {
	p := s.takePublisher(r.PathValue("id"), true)
	if p == nil {
		http.Error(w, "not publishing", http.StatusNotFound)
		return
	}
	p.Stop()
	w.WriteHeader(http.StatusOK)
}

// takePublisher returns session id's publisher (nil for none), taking it from the
// session when take is set.
func (s *Server) takePublisher(id string, take bool) *whip.Publisher {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	h := s.hosted[id]
	if h == nil {
		return nil
	}
	p := h.pub
	if take {
		h.pub = nil
	}
	return p
}

// publishStatus is GET /api/sessions/{id}/whip: whip.Status, which holds the
// endpoint's origin, the attempt count and a fixed reason, nothing the endpoint wrote.
func (s *Server) publishStatus(w http.ResponseWriter, r *http.Request) {
	p := s.takePublisher(r.PathValue("id"), false)
	if p == nil {
		http.Error(w, "not publishing", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(p.Status())
}
