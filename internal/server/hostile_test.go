package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
)

func rawDial(t *testing.T, h *host, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(h.ws, hdr)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestIngestNeedsTheTokenAndTheRightOrigin(t *testing.T) {
	h := startHost(t, func(c *server.Config) { c.AllowedOrigins = []string{"https://app.example"} })
	cases := []struct {
		name   string
		hdr    http.Header
		status int
	}{
		{"no token gets 401", http.Header{}, 401},
		{"a wrong token gets 401", bearer("nope"), 401},
		{"a cross-origin page gets 403", http.Header{"Authorization": {"Bearer " + token}, "Origin": {"https://evil.example"}}, 403},
		{"an allowed origin is let in", http.Header{"Authorization": {"Bearer " + token}, "Origin": {"https://app.example"}}, 101},
		{"a client without Origin is let in", bearer(token), 101},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, resp, _ := rawDial(t, h, c.hdr)
			if resp == nil || resp.StatusCode != c.status {
				t.Fatalf("got %v, want %d", resp, c.status)
			}
		})
	}
	if n := len(h.srv.Sessions.List()); n != 0 {
		t.Fatalf("%d sessions after refused upgrades", n)
	}
}

func TestCapsHold(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		c.MaxConnsPerAddr, c.MaxSessionsPerConn, c.MaxSessions, c.MaxMessageBytes = 2, 2, 3, 64<<10
	})
	c1, c2 := dial(t, h), dial(t, h)
	_, resp, _ := rawDial(t, h, bearer(token))
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection from one address: %v, want 429", resp)
	}
	create(t, c1, "a")
	create(t, c1, "b")
	ctx := context.Background()
	if _, err := c1.Create(ctx, "c", nil, nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("third session on one connection: %v", err)
	}
	create(t, c2, "c")
	if _, err := c2.Create(ctx, "d", nil, nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("session beyond the host cap: %v", err)
	}
	// An oversize message closes that connection with 1009, and nothing else. The
	// slot c1 frees is released once the server has seen its close.
	c1.Close()
	var ws *websocket.Conn
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; {
		if ws, _, err = rawDial(t, h, bearer(token)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after close: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling a freed slot; bounded by the deadline
	}
	ws.WriteMessage(websocket.BinaryMessage, make([]byte, 65<<10))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("oversize message: %v, want close 1009", err)
	}
	if _, err := h.srv.Sessions.Get("c"); err != nil {
		t.Fatal("another client's session went away")
	}
}

func TestHostileInputGetsClearErrors(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	s := create(t, c, "h")
	other := create(t, dial(t, h), "bystander")
	atap, _ := taps(t, h, "bystander")
	if err := s.Begin(1, nil, -1); err != nil {
		t.Fatal(err)
	}
	ws, _, err := rawDial(t, h, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	send := func(kind int, b []byte) ingestproto.Message {
		t.Helper()
		ws.WriteMessage(kind, b)
		for {
			var m ingestproto.Message
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatal(err)
			}
			if m.Type == ingestproto.TypeError {
				return m
			}
		}
	}
	bin := func(m ingestproto.Binary) []byte { return ingestproto.AppendBinary(nil, m) }
	cases := []struct {
		name string
		kind int
		msg  []byte
		code string
	}{
		{"unknown message type", websocket.TextMessage, []byte(`{"type":"dance","session":"h"}`), "bad_message"},
		{"not JSON", websocket.TextMessage, []byte(`{{{`), "bad_message"},
		{"a truncated binary header", websocket.BinaryMessage, []byte{1, 5, 'h'}, "bad_message"},
		{"audio for a session another connection drives", websocket.BinaryMessage, bin(ingestproto.Binary{Kind: ingestproto.KindAudio, Session: "h", Utterance: 1, Payload: []byte{0, 0}}), "unknown_session"},
		{"a frame of the wrong size", websocket.BinaryMessage, nil, "bad_frame"},
		{"an odd byte count of s16 audio", websocket.BinaryMessage, nil, "bad_audio"},
		{"audio for an utterance that is not playing", websocket.BinaryMessage, nil, "no_utterance"},
	}
	// The last three go through the owning connection's raw form: reuse s's socket
	// via the client for them.
	for _, c := range cases[:4] {
		t.Run(c.name, func(t *testing.T) {
			if m := send(c.kind, c.msg); m.Code != c.code {
				t.Fatalf("got %s (%s), want %s", m.Code, m.Error, c.code)
			}
		})
	}
	ownerCases := []struct {
		name string
		do   func() error
		code string
	}{
		{cases[4].name, func() error { return s.SendFrame(1, 0, make([]byte, 5)) }, "bad_frame"},
		{cases[5].name, func() error { return s.SendAudio(1, make([]byte, 3)) }, "bad_audio"},
		{cases[6].name, func() error { return s.SendAudio(99, make([]byte, 4)) }, "no_utterance"},
	}
	for _, c := range ownerCases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); err != nil {
				t.Fatal(err)
			}
			e := waitError(t, s.Events())
			if e.Code != c.code {
				t.Fatalf("got %s (%s), want %s", e.Code, e.Error, c.code)
			}
		})
	}
	// A client that disconnects mid-utterance: the host and the other session keep
	// going, and its session is kept (utterance and all) for resume.
	s.SendAudio(1, tone(24000))
	c.Close()
	n := len(atap.Bufs())
	if err := atap.WaitFor(n+10, 2*time.Second); err != nil {
		t.Fatalf("bystander session stopped: %v", err)
	}
	_ = other
	if sess, err := h.srv.Sessions.Get("h"); err != nil || sess.Current() == nil {
		t.Fatalf("disconnected client's session: %v, want kept for resume with its utterance", err)
	}
}

func waitError(t *testing.T, ev <-chan ingestproto.Message) ingestproto.Message {
	t.Helper()
	for {
		select {
		case e := <-ev:
			if e.Type == ingestproto.TypeError {
				return e
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no error event")
		}
	}
}

func TestSilentClientIsClosedWithinTheHeartbeatWindow(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		c.PingInterval, c.PongWait, c.ResumeGrace = 100*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
	})
	ws, _, err := rawDial(t, h, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteJSON(ingestproto.Message{Type: ingestproto.TypeCreate, Session: "quiet"})
	for {
		var m ingestproto.Message
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == ingestproto.TypeCreated {
			break
		}
	}
	// Now the client answers no pings and sends nothing, like a stopped process. The
	// server must close the connection within PongWait, and free the session once the
	// resume grace has passed too.
	ws.SetPingHandler(func(string) error { return nil })
	start := time.Now()
	ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a silent client for 3 s")
	}
	closed := time.Since(start)
	for {
		if _, err := h.srv.Sessions.Get("quiet"); err != nil {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the silent client's session was not freed")
		}
		time.Sleep(20 * time.Millisecond) // polling the host's own state; bounded
	}
	freed := time.Since(start)
	t.Logf("silent client: connection closed after %v, session freed after %v (pong wait 300 ms + grace 200 ms)", closed.Round(time.Millisecond), freed.Round(time.Millisecond))
	if closed > time.Second || freed > 1500*time.Millisecond {
		t.Fatalf("closed after %v, freed after %v", closed, freed)
	}
}

// TestResumeAfterADroppedConnection: the connection drops mid-utterance; the Go client
// reconnects with backoff, resumes with its token, and the same session (same
// pipeline) finishes the same utterance.
func TestResumeAfterADroppedConnection(t *testing.T) {
	h := startHost(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, h.ws, client.Options{Token: token, Reconnect: true, MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, "r", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := h.srv.Sessions.Get("r")
	if err := s.Begin(5, nil, -1); err != nil {
		t.Fatal(err)
	}
	s.SendAudio(5, tone(24000)) // 1 s
	waitEvent(t, s, ingestproto.TypeStarted, 3*time.Second)
	h.srv.DropIngestConnections() // the network drops the connection
	waitEvent(t, s, client.TypeResumed, 5*time.Second)
	after, _ := h.srv.Sessions.Get("r")
	if after != before {
		t.Fatal("resume made a new session")
	}
	s.SendAudio(5, tone(24000)) // the rest of the same utterance
	s.End(5)
	fin := waitEvent(t, s, ingestproto.TypeFinished, 5*time.Second)
	if fin.Utterance != 5 || fin.PlayedSamples != 48000 {
		t.Fatalf("finished %+v, want utterance 5 with 48000 samples", fin)
	}
}
