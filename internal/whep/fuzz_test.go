package whep_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/viewers"
	"github.com/avhost/avhost/internal/whep"
)

// outputs serves one real Pion output under the names "pub" (public) and "priv"
// (needs the bearer "v-tok").
type outputs struct{ o *rtcout.Output }

func (s outputs) Viewers(id string) (viewers.Backend, error) {
	if id == "pub" || id == "priv" {
		return s.o, nil
	}
	return nil, session.ErrNotFound
}

var (
	fuzzOnce sync.Once
	fuzzOut  *rtcout.Output
	fuzzMux  *http.ServeMux
)

// fuzzHost is one rtcout.Output on a pipeline of two idle appsinks (no encoder: each
// iteration pays only for Pion's offer handling) behind the real WHEP handler, shared
// by every iteration.
func fuzzHost(t testing.TB) (*rtcout.Output, *http.ServeMux) {
	fuzzOnce.Do(func() {
		p := gsttest.Pipeline(t, "appsrc name=vsrc ! appsink name=vout  appsrc name=asrc ! appsink name=aout")
		st, err := stream.New(p, stream.Config{})
		if err != nil {
			t.Fatal(err)
		}
		o, err := rtcout.New(st, rtcout.Config{})
		if err != nil {
			t.Fatal(err)
		}
		fuzzOut, fuzzMux = o, http.NewServeMux()
		h := &whep.Handler{Outputs: outputs{o},
			Authorize: func(cred, s string) bool { return s == "pub" || cred == "v-tok" },
			IsHost:    func(cred string) bool { return cred == "host-tok" }}
		h.Register(fuzzMux)
	})
	return fuzzOut, fuzzMux
}

// offerSDP is a browser-like recvonly offer from a real Pion peer.
func offerSDP(t testing.TB) string {
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// FuzzWHEPOffer posts arbitrary offers, content types, credentials and sessions to the
// WHEP handler of a real Pion output. No panic; the status is one WHEP documents; a
// created viewer is refused to other credentials, ended by its own, and none is left.
func FuzzWHEPOffer(f *testing.F) {
	offer := offerSDP(f)
	f.Add("pub", "application/sdp", "", []byte(offer))
	f.Add("priv", "application/sdp", "Bearer v-tok", []byte(offer))
	f.Add("priv", "application/sdp", "", []byte(offer))
	f.Add("nope", "application/sdp", "Bearer v-tok", []byte(offer))
	f.Add("pub", "application/sdp", "Bearer x", []byte("v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"))
	f.Add("pub", "text/plain", "", []byte(offer))
	f.Add("pub", "application/sdp", "", []byte(strings.Replace(offer, "a=setup:actpass", "a=setup:bogus", 1)))
	f.Add("pub", "application/sdp", "Basic dTpw", []byte(strings.Repeat("a=x\r\n", 14000)))
	f.Add("pub", "application/sdp", "", []byte{})
	o, mux := fuzzHost(f)
	f.Fuzz(func(t *testing.T, sess, ct, authz string, body []byte) {
		req := httptest.NewRequest("POST", "/whep/"+url.PathEscape(sess), bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		switch w.Code {
		case 201, 400, 404, 413, 415, 503:
		default:
			t.Fatalf("status %d (%s)", w.Code, w.Body)
		}
		if w.Code == 201 {
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, "/whep/") || len(loc[strings.LastIndexByte(loc, '/')+1:]) != 32 {
				t.Fatalf("Location %q: want /whep/{session}/{32 hex digits}", loc)
			}
			if auth.Bearer(req) != "" { // else the URL alone is the capability
				if code := deleteAs(mux, loc, "Bearer someone-else"); code != 404 {
					t.Fatalf("DELETE by another credential: %d, want 404", code)
				}
			}
			if code := deleteAs(mux, loc, authz); code != 200 {
				t.Fatalf("DELETE by its own credential %q: %d", authz, code)
			}
		}
		if n := o.Viewers(); n != 0 {
			t.Fatalf("%d viewers left", n)
		}
	})
}

func deleteAs(mux *http.ServeMux, loc, authz string) int {
	req := httptest.NewRequest("DELETE", loc, nil)
	req.Header.Set("Authorization", authz)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w.Code
}

// TestDeleteNeedsTheCreatorsCredential: a viewer ends with the credential it was
// created with or the host's; anything else is the unknown-viewer 404.
func TestDeleteNeedsTheCreatorsCredential(t *testing.T) {
	o, mux := fuzzHost(t)
	offer := offerSDP(t)
	post := func(sess, authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/whep/"+sess, strings.NewReader(offer))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}
	cases := []struct {
		name, sess, creator string
		refused             []string
		ender               string
	}{
		{"a private viewer ends with its viewer token", "priv", "Bearer v-tok", []string{"", "Bearer nope", "Basic v-tok"}, "Bearer v-tok"},
		{"a private viewer ends with the host token", "priv", "Bearer v-tok", []string{""}, "Bearer host-tok"},
		{"a public viewer made with a token needs it", "pub", "Bearer mine", []string{"", "Bearer other"}, "Bearer mine"},
		{"a public viewer made without a token ends by its URL", "pub", "", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := post(c.sess, c.creator)
			if w.Code != 201 {
				t.Fatalf("POST: %d %s", w.Code, w.Body)
			}
			loc := w.Header().Get("Location")
			for _, a := range c.refused {
				if code := deleteAs(mux, loc, a); code != 404 || o.Viewers() != 1 {
					t.Fatalf("DELETE with %q: %d, %d viewers; want 404 and the viewer kept", a, code, o.Viewers())
				}
			}
			if code := deleteAs(mux, loc, c.ender); code != 200 || o.Viewers() != 0 {
				t.Fatalf("DELETE with %q: %d, %d viewers", c.ender, code, o.Viewers())
			}
		})
	}
	unknown, private := post("nope", ""), post("priv", "Bearer wrong")
	if unknown.Code != 404 || private.Code != unknown.Code || private.Body.String() != unknown.Body.String() {
		t.Fatalf("private without its token: %d %q; unknown session: %d %q", private.Code, private.Body, unknown.Code, unknown.Body)
	}
}
