package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// dcViewer is a Pion WHEP viewer that opens the speech data channel.
type dcViewer struct {
	pc     *webrtc.PeerConnection
	dc     *webrtc.DataChannel
	open   chan struct{}
	other  chan struct{} // closed when avhost closed the channel of another label
	start  uint32        // rtp of speaking_started
	events chan signalproto.Message
}

func joinWithChannel(t *testing.T, h *host, bearer string) *dcViewer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &dcViewer{pc: pc, open: make(chan struct{}), other: make(chan struct{}), events: make(chan signalproto.Message, 256)}
	// A channel of another label is closed by avhost, not kept.
	other, err := pc.CreateDataChannel("other", nil)
	if err != nil {
		t.Fatal(err)
	}
	other.OnClose(func() { close(v.other) })
	if v.dc, err = pc.CreateDataChannel(signalproto.DataChannelLabel, nil); err != nil {
		t.Fatal(err)
	}
	v.dc.OnOpen(func() { close(v.open) })
	v.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var msg signalproto.Message
		if json.Unmarshal(m.Data, &msg) == nil {
			select {
			case v.events <- msg:
			default:
				t.Error("events queue full")
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	req, _ := http.NewRequest("POST", h.web+"/whep/demo", bytes.NewReader([]byte(pc.LocalDescription().SDP)))
	req.Header.Set("Content-Type", "application/sdp")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
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
	for _, c := range []chan struct{}{v.open, v.other} {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("data channel not open (or the other not closed) within 10 s")
		}
	}
	return v
}

func (v *dcViewer) next(t *testing.T) signalproto.Message {
	t.Helper()
	select {
	case m := <-v.events:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return signalproto.Message{}
	}
}

// TestSpeechOverTheDataChannel: a Pion viewer's data channel gets the session's speech
// events, each stamped with the audio RTP time of its offset in the utterance; only a
// viewer created with the host token may interrupt over it.
func TestSpeechOverTheDataChannel(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	sess, _ := h.srv.Sessions.Get("demo")
	rate := sess.Config().Rate
	host := joinWithChannel(t, h, token)
	anon := joinWithChannel(t, h, "")

	if err := sess.Begin(1, pcm.Format{Type: pcm.S16, Rate: rate, Channels: 1}, -1); err != nil {
		t.Fatal(err)
	}
	words := []session.Word{{Text: "one", Start: 0, End: 200 * time.Millisecond},
		{Text: "two", Start: 300 * time.Millisecond, End: 500 * time.Millisecond}, {Text: "three", Start: 1500 * time.Millisecond, End: 2 * time.Second}}
	if err := sess.Caption(1, words); err != nil {
		t.Fatal(err)
	}
	if err := sess.Audio(1, make([]byte, 2*rate*3)); err != nil { // 3 s
		t.Fatal(err)
	}
	for _, v := range []*dcViewer{host, anon} {
		start := v.next(t)
		if start.Type != signalproto.TypeSpeakingStarted || start.RTP == nil {
			t.Fatalf("first event %+v", start)
		}
		v.start = *start.RTP
		for i, w := range words[:2] {
			m := v.next(t)
			if m.Type != signalproto.TypeWord || m.Text != w.Text || m.Index != i || m.RTP == nil {
				t.Fatalf("word %d: %+v", i, m)
			}
			// 48 kHz RTP clock: the word's offset, exactly.
			if d := *m.RTP - *start.RTP; d != uint32(w.Start.Milliseconds()*48) {
				t.Fatalf("word %q at rtp +%d, want +%d", w.Text, d, w.Start.Milliseconds()*48)
			}
		}
	}

	t.Run("an anonymous viewer's interrupt is ignored", func(t *testing.T) {
		anon.dc.SendText(`{"type":"interrupt"}`)
		// Its next event, the third word (told 1 s ahead of its audio, so half a second
		// later), comes after avhost read the message on the same association: the
		// utterance must still be playing.
		if m := anon.next(t); m.Type != signalproto.TypeWord || m.Text != "three" {
			t.Fatalf("after an anonymous interrupt: %+v", m)
		}
		if st := sess.Stats(); st.Interrupts != 0 {
			t.Fatalf("%d interrupts", st.Interrupts)
		}
	})
	t.Run("the host token's viewer interrupts and every viewer is told where", func(t *testing.T) {
		if m := host.next(t); m.Text != "three" {
			t.Fatalf("%+v", m)
		}
		host.dc.SendText(`{"type":"interrupt"}`)
		for _, v := range []*dcViewer{host, anon} {
			m := v.next(t)
			if m.Type != signalproto.TypeInterrupted || m.Utterance != 1 || m.PlayedMS < 500 || m.RTP == nil {
				t.Fatalf("after the host's interrupt: %+v", m)
			}
			if d, want := *m.RTP-v.start, uint32(m.PlayedMS*48); d != want {
				t.Fatalf("cut at rtp +%d, want +%d (played %.1f ms)", d, want, m.PlayedMS)
			}
		}
		if st := sess.Stats(); st.Interrupts != 1 {
			t.Fatalf("%d interrupts", st.Interrupts)
		}
	})
}
