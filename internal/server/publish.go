package server

import (
	"encoding/json"
	"net/http"

	"github.com/avhost/avhost/internal/rtcout"
)

// publish (re)starts publishing session id to a WHIP endpoint.
func (s *Server) publish(id string, out *rtcout.Output, pc rtcout.PublishConfig) {
	p := out.Publish(pc)
	s.omu.Lock()
	old := s.publishers[id]
	s.publishers[id] = p
	s.omu.Unlock()
	if old != nil {
		old.Stop()
	}
}

// startPublish is POST /api/sessions/{id}/whip {"url": …, "token": …}.
func (s *Server) startPublish(w http.ResponseWriter, r *http.Request) {
	var req struct{ URL, Token string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.URL == "" {
		http.Error(w, `want {"url": "https://sfu/whip/...", "token": "…"}`, http.StatusBadRequest)
		return
	}
	out, err := s.Output(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	s.publish(r.PathValue("id"), out, rtcout.PublishConfig{URL: req.URL, Token: req.Token})
	w.WriteHeader(http.StatusAccepted)
}

// stopPublish is DELETE /api/sessions/{id}/whip.
func (s *Server) stopPublish(w http.ResponseWriter, r *http.Request) {
	s.omu.Lock()
	p := s.publishers[r.PathValue("id")]
	delete(s.publishers, r.PathValue("id"))
	s.omu.Unlock()
	if p == nil {
		http.Error(w, "not publishing", http.StatusNotFound)
		return
	}
	p.Stop()
	w.WriteHeader(http.StatusOK)
}

// publishStatus is GET /api/sessions/{id}/whip.
func (s *Server) publishStatus(w http.ResponseWriter, r *http.Request) {
	s.omu.Lock()
	p := s.publishers[r.PathValue("id")]
	s.omu.Unlock()
	if p == nil {
		http.Error(w, "not publishing", http.StatusNotFound)
		return
	}
	st := map[string]any{"connected": p.Connected(), "attempts": p.Attempts()}
	if err := p.Err(); err != nil {
		st["last_error"] = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}
