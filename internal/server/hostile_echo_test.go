package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// TestARefusedMessageIsNotEchoed: a refusal names what was wrong, and never carries
// the client's bytes back whole. An echoed session id or number of a megabyte, queued
// 256 times for a client that does not read, was gigabytes held for one connection.
func TestARefusedMessageIsNotEchoed(t *testing.T) {
	h := startHost(t, nil)
	ws, _, err := rawDial(t, h, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var welcome ingestproto.Message
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("9", 1<<20)
	for _, tc := range []struct{ name, msg string }{
		{"a caption whose words are refused, for a session id of 1 MiB",
			`{"type":"caption","session":"` + big + `","words":[]}`},
		{"a begin for a session id of 1 MiB", `{"type":"begin","session":"` + big + `"}`},
		{"a message type of 1 MiB", `{"type":"` + big + `","session":"s"}`},
		{"an utterance id of a million digits", `{"type":"begin","session":"s","utterance":` + big + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ws.WriteMessage(1, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 1024 || !strings.Contains(string(b), `"type":"error"`) {
				t.Fatalf("a %d-byte reply: %.200s…", len(b), b)
			}
		})
	}
}

// TestARefusedOfferIsNotEchoed: the WebRTC stack's error for an offer it cannot parse
// quotes the value it choked on; WHEP's 400 and /ws's error carry a bounded reason,
// not 64 KiB of the offer back.
func TestARefusedOfferIsNotEchoed(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
	})
	bad := strings.Replace(recvOffer(t), "m=video 9", "m=video "+strings.Repeat("9", 30000), 1)
	resp, err := http.Post(h.web+"/whep/demo", "application/sdp", strings.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(b) > 512 {
		t.Fatalf("WHEP: %s, a %d-byte body: %.200s…", resp.Status, len(b), b)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: bad})
	_, b, err = ws.ReadMessage()
	if err != nil || len(b) > 512 || !strings.Contains(string(b), `"error"`) {
		t.Fatalf("/ws: %v, a %d-byte reply: %.200s…", err, len(b), b)
	}
}
