package server_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// maxMessageSize finds an SDP's a=max-message-size (RFC 8841 §6).
var maxMessageSize = regexp.MustCompile(`a=max-message-size:(\d+)`)

// TestADataChannelTakesNoLargeMessages: avhost reads at most
// signalproto.MaxDataChannelMessage of what a viewer sends on its channel, so its
// answer says it takes no large messages (a=max-message-size), and a peer that sends
// one anyway gets no more than a bounded receive buffer of it into the host. Pion's
// defaults advertise 1 GiB, buffer 1 MiB per association and grow the channel's read
// buffer to the largest message for as long as the channel lives: a viewer could make
// the host hold megabytes for nothing.
func TestADataChannelTakesNoLargeMessages(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dc, err := pc.CreateDataChannel(signalproto.DataChannelLabel, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := make(chan struct{})
	dc.OnOpen(func() { close(open) })
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
	answer := string(body)
	m := maxMessageSize.FindStringSubmatch(answer)
	if m == nil {
		t.Fatal("the answer has no a=max-message-size (RFC 8841: 64 KiB is then assumed)")
	}
	if n, _ := strconv.Atoi(m[1]); n > 64<<10 {
		t.Errorf("the answer advertises a=max-message-size:%d; avhost reads at most %d bytes a message", n, signalproto.MaxDataChannelMessage)
	}
	// A hostile peer ignores what the answer says.
	answer = maxMessageSize.ReplaceAllString(answer, "a=max-message-size:1073741823")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-open:
	case <-time.After(10 * time.Second):
		t.Fatal("data channel not open within 10 s")
	}
	// A peer that ignores the answer gets no more than the association's receive
	// buffer into avhost: the rest of its message stays on its side (buffered, not
	// acknowledged). With Pion's defaults avhost took the whole message at once, and
	// kept a read buffer as large as it.
	const sent = 512 << 10
	if err := dc.SendText(strings.Repeat("x", sent)); err != nil {
		t.Fatal(err)
	}
	// A negative: watch for two seconds (a loopback drains 512 KiB in milliseconds).
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if taken := sent - int(dc.BufferedAmount()); taken > 256<<10 {
			t.Fatalf("avhost took %d KiB of one data channel message", taken>>10)
		}
	}
	if s := pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
		t.Fatalf("the viewer's connection is %s: only its channel should stall", s)
	}
}
