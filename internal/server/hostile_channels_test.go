package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// channelFlood is a WHEP viewer that opens n data channels of other labels beside
// the speech channel, and (its channels detached and never read) never answers the
// host's closing of them: every channel avhost refuses stays half-open on the host's
// side for as long as the peer likes.
func channelFlood(t *testing.T, h *host, n int) (*webrtc.PeerConnection, string) {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.DetachDataChannels()
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.CreateDataChannel(signalproto.DataChannelLabel, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := pc.CreateDataChannel(fmt.Sprintf("x%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	resp, err := http.Post(h.web+"/whep/demo", "application/sdp", bytes.NewReader([]byte(pc.LocalDescription().SDP)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	return pc, loc[strings.LastIndex(loc, "/")+1:]
}

// TestAViewerOpeningManyChannelsIsDropped: avhost closes every data channel but the
// first speech channel, and a peer that never resets its side keeps each half-open in
// the host's SCTP association. 3000 of them held about 15 MiB of the host's heap
// (measured against this test's client alone), and a peer may open 32768. Past a
// few refused channels the viewer is dropped.
func TestAViewerOpeningManyChannelsIsDropped(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	out, err := h.srv.Output("demo")
	if err != nil {
		t.Fatal(err)
	}
	channelFlood(t, h, 50)
	deadline := time.Now().Add(10 * time.Second)
	for out.Viewers() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a viewer that opened 50 channels avhost refused still held after 10 s (%d viewers)", out.Viewers())
		}
		time.Sleep(50 * time.Millisecond) // polling the output, which has no signal for it
	}
}
