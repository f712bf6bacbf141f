package server_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/loadtest"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// TestOfferBurstIsShedAndTheViewerPlaysOn: 60 WHEP offers that will never finish ICE
// arrive at once (issue 10, row 13). Past the handshake cap and its queue (or the
// address's pending cap) they are turned away with 503 (or 429) and Retry-After
// before any PeerConnection is built, and a
// viewer that was already watching keeps receiving.
func TestOfferBurstIsShedAndTheViewerPlaysOn(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 3100*time.Millisecond
		c.Session = session.Config{Width: 128, Height: 128}
		c.Admission = server.AdmissionConfig{Handshakes: 2, Queue: 2}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewer, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if err := viewer.WaitTracks(ctx); err != nil {
		t.Fatal(err)
	}
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close() // where the offers' candidate points: it never answers
	offers, err := loadtest.DeadOffers(60, sink.LocalAddr().(*net.UDPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	status := map[string]int{}
	var wg sync.WaitGroup
	for _, o := range offers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "POST", h.web+"/whep/demo", strings.NewReader(o))
			req.Header.Set("Content-Type", "application/sdp")
			key := "error"
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				key = resp.Status + " Retry-After:" + resp.Header.Get("Retry-After")
			}
			mu.Lock()
			status[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("60 offers at once: %v", status)
	// Shed either by the handshake queue (503) or, when the admitted offers already
	// hold the address's pending slots as the rest arrive, by the per-address cap
	// (429): which comes first is the scheduler's, and both answer before any
	// PeerConnection is built, with Retry-After.
	shed := status["503 Service Unavailable Retry-After:1"] + status["429 Too Many Requests Retry-After:1"]
	if status["201 Created Retry-After:"] == 0 || status["201 Created Retry-After:"]+shed != len(offers) {
		t.Fatalf("want some offers admitted and the rest shed with 503 or 429 and Retry-After: 1, got %v", status)
	}
	n0 := viewer.AudioPackets.Load()
	waitFor(t, 5*time.Second, func() bool { return viewer.AudioPackets.Load() > n0+50 }, "the established viewer to keep receiving audio")
}
