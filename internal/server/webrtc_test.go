package server_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

func encodingHost(t *testing.T) *host { return encodingHostB(t) }

func encodingHostB(t testing.TB) *host {
	return startHost(t, func(c *server.Config) {
		yes := true
		c.Demo = &yes
		c.DemoLoop = 3100 * time.Millisecond
		c.Session = session.Config{Width: 512, Height: 512}
		// BenchmarkViewers joins 20 viewers from one address, each offer sent before the
		// last has connected: the cap on unconnected viewers per address is not measured.
		c.MaxPendingViewersPerAddr = -1
	})
}

func TestPionViewersReceiveBothTracksAndAreFreed(t *testing.T) {
	h := encodingHost(t)
	out, err := h.srv.Output("demo")
	if err != nil {
		t.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rs []*webrtctest.Receiver
	for i := 0; i < 3; i++ {
		r, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		if err := r.WaitTracks(ctx); err != nil {
			t.Fatal("tracks:", err)
		}
	}
	for _, r := range rs {
		for r.VideoPackets.Load() < 20 || r.AudioPackets.Load() < 20 {
			select {
			case <-ctx.Done():
				t.Fatalf("packets: video %d audio %d", r.VideoPackets.Load(), r.AudioPackets.Load())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if out.Viewers() != 3 {
		t.Fatalf("%d viewers, want 3", out.Viewers())
	}
	// One leaves with DELETE, the others vanish (PC closed without a word).
	req, _ := http.NewRequest("DELETE", h.web+rs[0].Location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	for _, r := range rs {
		r.Close()
	}
	http.DefaultClient.CloseIdleConnections() // keep-alive goroutines are not the viewers'
	for deadline := time.Now().Add(20 * time.Second); out.Viewers() > 0 || runtime.NumGoroutine() > g0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers and %d goroutines (baseline %d) left", out.Viewers(), runtime.NumGoroutine(), g0)
		}
		time.Sleep(100 * time.Millisecond) // ICE notices vanished peers on its own timers
	}
}

func TestBadSignalingGets4xx(t *testing.T) {
	h := encodingHost(t)
	post := func(path, ct, body string) (int, string) {
		resp, err := http.Post(h.web+path, ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name, path, ct, body string
		status               int
	}{
		{"garbage SDP", "/whep/demo", "application/sdp", "v=0 garbage", 400},
		{"a wrong session", "/whep/nope", "application/sdp", "v=0\r\n", 404},
		{"a wrong content type", "/whep/demo", "text/plain", "v=0\r\n", 415},
		{"an oversized body", "/whep/demo", "application/sdp", strings.Repeat("a", 70<<10), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code, body := post(c.path, c.ct, c.body); code != c.status {
				t.Fatalf("got %d (%s), want %d", code, body, c.status)
			}
		})
	}
	req, _ := http.NewRequest("DELETE", h.web+"/whep/demo/999", nil)
	if resp, _ := http.DefaultClient.Do(req); resp == nil || resp.StatusCode != 404 {
		t.Fatalf("DELETE of an unknown viewer: %v", resp)
	}
}

func TestViewerTokenGatesWatching(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: 64, Height: 64}
	})
	c := dial(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, "private", nil, nil, client.WithViewerToken("v-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	try := func(tok string) int {
		req, _ := http.NewRequest("POST", h.web+"/whep/private", strings.NewReader("v=0 not an offer"))
		req.Header.Set("Content-Type", "application/sdp")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// 404 without the token, as for an unknown session (no 401 vs 404 oracle).
	for tok, want := range map[string]int{"": 404, "wrong": 404, "v-secret-0123456789": 400, token: 400} {
		if got := try(tok); got != want {
			t.Errorf("token %q: %d, want %d (400: past the gate, the offer is garbage)", tok, got, want)
		}
	}
}

func TestSignalingRefusesICEForUnknownViewers(t *testing.T) {
	h := encodingHost(t)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, m := range []signalproto.Message{
		{Type: signalproto.TypeCandidate, Viewer: "42", Candidate: &signalproto.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}},
		{Type: signalproto.TypeOffer, Session: "nope", SDP: "v=0"},
		{Type: "dance"},
	} {
		ws.WriteJSON(m)
		var r signalproto.Message
		if err := ws.ReadJSON(&r); err != nil || r.Type != signalproto.TypeError {
			t.Fatalf("%+v: got %+v %v, want an error message", m, r, err)
		}
	}
}
