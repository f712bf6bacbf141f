package server_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/viewers"
)

// TestAViewerTricklesABoundedNumberOfCandidates: every remote candidate a viewer
// trickles over /ws costs the host a candidate, its pairs with every local
// candidate, connectivity checks sent to the address it names (anywhere: on the
// shared ICE port each also takes over the port's routing for that address) and,
// in Pion, a goroutine while it waits for the agent. A browser trickles a few dozen;
// past viewers.MaxCandidates they are refused.
func TestAViewerTricklesABoundedNumberOfCandidates(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: recvOffer(t)})
	var ans signalproto.Message
	if err := ws.ReadJSON(&ans); err != nil || ans.Type != signalproto.TypeAnswer {
		t.Fatalf("answer: %+v %v", ans, err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const extra = 5 // a few: a flood of refusals closes the connection, as any error flood
	n := viewers.MaxCandidates + extra
	mid := "0"
	go func() { // the writes, while the reads below drain the errors
		for i := 0; i < n; i++ {
			c := fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 20000+i)
			if ws.WriteJSON(signalproto.Message{Type: signalproto.TypeCandidate, Viewer: ans.Viewer,
				Candidate: &signalproto.Candidate{Candidate: c, SDPMid: &mid}}) != nil {
				return
			}
		}
		// A marker: refused as a candidate for an unknown viewer, after the others.
		ws.WriteJSON(signalproto.Message{Type: signalproto.TypeCandidate, Viewer: "end-marker"})
	}()
	refused := 0
	for {
		var m signalproto.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("after %d refusals: %v", refused, err)
		}
		if m.Type != signalproto.TypeError {
			continue // speech events of the demo session
		}
		if m.Viewer == "end-marker" {
			break
		}
		if !strings.Contains(m.Error, "too many candidates") {
			t.Fatalf("error %q", m.Error)
		}
		refused++
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d candidates trickled: heap %+d KiB, %d goroutines", n, (int64(after.HeapInuse)-int64(before.HeapInuse))>>10, runtime.NumGoroutine())
	if refused != extra {
		t.Fatalf("%d candidates refused past the cap of %d, want %d", refused, viewers.MaxCandidates, extra)
	}
}

// TestAnOfferCarriesABoundedNumberOfCandidates: an offer with more than
// viewers.MaxCandidates candidates is refused before any work (WHEP 400, /ws an
// error); a 64 KiB offer could carry 600 of them, each checked against as above.
func TestAnOfferCarriesABoundedNumberOfCandidates(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	offer := recvOffer(t)
	var extra strings.Builder
	for i := 0; i <= viewers.MaxCandidates; i++ {
		fmt.Fprintf(&extra, "a=candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host\r\n", i, 20000+i)
	}
	// The lines go at the end: into the last m-section, which is bundled with the rest.
	crowded := offer + extra.String()

	resp, err := http.Post(h.web+"/whep/demo", "application/sdp", strings.NewReader(crowded))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "candidates") {
		t.Fatalf("WHEP offer with %d candidates: %s %s", viewers.MaxCandidates+1, resp.Status, body)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: crowded})
	var m signalproto.Message
	if err := ws.ReadJSON(&m); err != nil || m.Type != signalproto.TypeError || !strings.Contains(m.Error, "candidates") {
		t.Fatalf("/ws offer with %d candidates: %+v %v", viewers.MaxCandidates+1, m, err)
	}
	if out, _ := h.srv.Output("demo"); out.Viewers() != 0 {
		t.Fatalf("%d viewers after the refused offers", out.Viewers())
	}
}
