package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// whipEndpoint is a Pion-based WHIP receiver that refuses its first `fail` POSTs.
type whipEndpoint struct {
	fail    int32
	posts   atomic.Int32
	video   atomic.Int64
	audio   atomic.Int64
	mu      sync.Mutex
	pcs     []*webrtc.PeerConnection
	deletes atomic.Int32
}

func (e *whipEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "DELETE" {
		e.deletes.Add(1)
		return
	}
	if n := e.posts.Add(1); n <= e.fail {
		http.Error(w, "warming up", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer sfu-token" {
		http.Error(w, "token", http.StatusUnauthorized)
		return
	}
	offer, _ := io.ReadAll(r.Body)
	m := &webrtc.MediaEngine{}
	m.RegisterDefaultCodecs()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, _ := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &e.audio
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			n = &e.video
		}
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
			n.Add(1)
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	ans, _ := pc.CreateAnswer(nil)
	g := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(ans)
	<-g
	e.mu.Lock()
	e.pcs = append(e.pcs, pc)
	e.mu.Unlock()
	w.Header().Set("Location", "/whip/resource/1")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, pc.LocalDescription().SDP)
}

func (e *whipEndpoint) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pc := range e.pcs {
		pc.Close()
	}
	e.pcs = nil
}

func TestWHIPPublishRetriesAndKeepsLocalViewers(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 3100*time.Millisecond
		c.Session = session.Config{Width: 512, Height: 512}
		c.PublishAllow = []string{"127.0.0.1"} // the test SFU is on loopback
	})
	ep := &whipEndpoint{fail: 2}
	sfu := httptest.NewServer(ep)
	defer sfu.Close()
	defer ep.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	viewer, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()

	req, _ := http.NewRequest("POST", h.web+"/api/sessions/demo/whip", strings.NewReader(`{"url":"`+sfu.URL+`/whip","token":"sfu-token"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start publish: %v %v", resp, err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: SFU got video %d audio %d after %d POSTs", what, ep.video.Load(), ep.audio.Load(), ep.posts.Load())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("media at the SFU", func() bool { return ep.video.Load() > 50 && ep.audio.Load() > 50 })
	if ep.posts.Load() < 3 {
		t.Fatalf("%d POSTs: the two refusals were not retried", ep.posts.Load())
	}
	// The SFU drops the connection: the publisher notices and publishes again.
	ep.close()
	before := ep.posts.Load()
	waitFor("a new POST after the failure", func() bool { return ep.posts.Load() > before })
	v0 := ep.video.Load()
	waitFor("media again", func() bool { return ep.video.Load() > v0+50 })
	// Local viewers were served throughout.
	if viewer.VideoPackets.Load() < 100 {
		t.Fatalf("local viewer got %d video packets", viewer.VideoPackets.Load())
	}
	var st map[string]any
	req, _ = http.NewRequest("GET", h.web+"/api/sessions/demo/whip", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st["state"] != "connected" {
		t.Fatalf("publisher status %v, want connected", st)
	}
	t.Logf("publisher: %v; SFU: %d POSTs, video %d, audio %d packets", st, ep.posts.Load(), ep.video.Load(), ep.audio.Load())
}
