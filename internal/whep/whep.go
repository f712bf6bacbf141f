// Package whep serves WHEP (RFC 9725's egress sibling, draft-ietf-wish-whep): POST an
// SDP offer to /whep/{session}, get 201 with the answer and a Location to DELETE when
// leaving.
//
// Credentials travel only as "Authorization: Bearer" headers. The resource a POST
// creates has a 128-bit random id and remembers the credential it was created with;
// DELETE needs that credential (or the host's token). A viewer created without one
// (a public session) is ended by whoever holds its URL: the URL is the capability.
//
// CORS is "*" on purpose: browser players on other origins must work, and since the
// credential is a header a page has to hold, not a cookie the browser adds on its own,
// a foreign page gains nothing from CORS it could not do with curl.
package whep

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/viewers"
)

// MaxOffer caps an SDP offer's size.
const MaxOffer = 64 << 10

// Handler serves POST /whep/{session}, DELETE /whep/{session}/{viewer} and OPTIONS.
type Handler struct {
	Outputs viewers.Outputs
	// Authorize, if set, says whether cred (a bearer token, "" for none) may watch
	// session. A refusal gets the very answer an unknown session gets (404), so the
	// existence of a private session is not disclosed. nil allows all.
	Authorize func(cred, session string) bool
	// IsHost, if set, says whether cred is the host's token, which may end any viewer.
	IsHost func(cred string) bool
	// Credentialed, if set, says whether cred admits to session by itself (its viewer
	// token or the host token), not just as anyone may watch a public session: such
	// a viewer is not held to the host's anonymous caps (viewers.HostCaps).
	Credentialed func(cred, session string) bool
	// ICEServers, if set, gives the ICE servers for one viewer, called once per answer
	// (a TURN credential is minted per viewer); they go with the answer as Link
	// headers (link.go), so that it can use the host's STUN/TURN. Only a requester
	// allowed to watch gets them.
	ICEServers func() []viewers.ICEServer
}

// Answers shared by "unknown" and "not yours", so that the two cannot be told apart.
const (
	noSession = "no such session"
	noViewer  = "no such viewer"
)

func cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Expose-Headers", "Location, Link")
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
	id, cred := r.PathValue("session"), auth.Bearer(r)
	// The session and the right to watch it come first, before any other check: a
	// private session must answer exactly as an unknown one whatever else is wrong.
	if h.Authorize != nil && !h.Authorize(cred, id) {
		http.Error(w, noSession, http.StatusNotFound)
		return
	}
	out, err := h.Outputs.Viewers(id)
	if err != nil {
		http.Error(w, noSession, http.StatusNotFound)
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
	if err := viewers.CheckOffer(string(body)); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	c := viewers.Client{Owner: cred, Addr: r.RemoteAddr, Credentialed: h.Credentialed != nil && h.Credentialed(cred, id)}
	vid, answer, err := out.AddViewer(ctx, string(body), c)
	switch {
	case errors.Is(err, viewers.ErrBadOffer):
		http.Error(w, viewers.Reason(err), http.StatusBadRequest)
		return
	case errors.Is(err, viewers.ErrTooManyViewers):
		http.Error(w, viewers.Reason(err), http.StatusServiceUnavailable)
		return
	case errors.Is(err, viewers.ErrTooManyPending):
		// This address's other viewers are still connecting: one second is plenty for
		// a browser's; an offer that never connects holds its slot to the deadline.
		w.Header().Set("Retry-After", "1")
		http.Error(w, viewers.Reason(err), http.StatusTooManyRequests)
		return
	case errors.Is(err, viewers.ErrClosed):
		http.Error(w, noSession, http.StatusNotFound)
		return
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		http.Error(w, "answer not ready in time", http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, viewers.Reason(err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Cache-Control", "no-store") // the Location is a capability
	w.Header().Set("Location", "/whep/"+url.PathEscape(id)+"/"+vid)
	setICELinks(w.Header(), h.ICEServers)
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// delete ends a viewer for the credential that created it or the host's token.
// Anything else, whether the session or viewer is unknown or the credential wrong, is
// one 404: the viewer plays on and the caller learns nothing.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	cors(w)
	cred, vid := auth.Bearer(r), r.PathValue("viewer")
	out, err := h.Outputs.Viewers(r.PathValue("session"))
	if err != nil {
		http.Error(w, noViewer, http.StatusNotFound)
		return
	}
	owner, ok := out.Owner(vid)
	if !ok || !(owner == "" || auth.Equal(cred, owner) || h.IsHost != nil && h.IsHost(cred)) {
		http.Error(w, noViewer, http.StatusNotFound)
		return
	}
	if err := out.RemoveViewer(vid); err != nil {
		http.Error(w, noViewer, http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}
