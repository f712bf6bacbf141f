// Package whep serves WHEP (RFC 9725's egress sibling, draft-ietf-wish-whep): POST an
// SDP offer to /whep/{session}, get 201 with the answer and a Location to DELETE when
// leaving. CORS is open so browser players on other origins work.
package whep

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/rtcout"
)

// Viewers is a session's WebRTC output, whichever backend serves it.
type Viewers interface {
	AddViewer(ctx context.Context, offer webrtc.SessionDescription) (string, webrtc.SessionDescription, error)
	AddICECandidate(id string, c webrtc.ICECandidateInit) error
	RemoveViewer(id string) error
}

// Outputs finds a session's WebRTC output.
type Outputs interface {
	Viewers(session string) (Viewers, error)
}

// MaxOffer caps an SDP offer's size.
const MaxOffer = 64 << 10

// Handler serves POST /whep/{session}, DELETE /whep/{session}/{viewer} and OPTIONS.
type Handler struct {
	Outputs Outputs
	// Authorize, if set, gates viewers per session (e.g. a viewer token); nil allows all.
	Authorize func(r *http.Request, session string) bool
}

func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Expose-Headers", "Location")
}

// Register mounts the handler on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("OPTIONS /whep/{session}", h.options)
	mux.HandleFunc("OPTIONS /whep/{session}/{viewer}", h.options)
	mux.HandleFunc("POST /whep/{session}", h.post)
	mux.HandleFunc("DELETE /whep/{session}/{viewer}", h.delete)
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	cors(w)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	cors(w)
	id := r.PathValue("session")
	if h.Authorize != nil && !h.Authorize(r, id) {
		http.Error(w, "viewer token required", http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		http.Error(w, "Content-Type must be application/sdp", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxOffer+1))
	if err != nil {
		http.Error(w, "reading offer: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxOffer {
		http.Error(w, "offer larger than 64 KiB", http.StatusRequestEntityTooLarge)
		return
	}
	out, err := h.Outputs.Viewers(id)
	if err != nil {
		http.Error(w, "no such session: "+id, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	vid, answer, err := out.AddViewer(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(body)})
	switch {
	case errors.Is(err, rtcout.ErrBadOffer):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, rtcout.ErrTooManyViewers):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+id+"/"+vid)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer.SDP)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	out, err := h.Outputs.Viewers(r.PathValue("session"))
	if err != nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	if err := out.RemoveViewer(r.PathValue("viewer")); err != nil {
		http.Error(w, "no such viewer", http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}
