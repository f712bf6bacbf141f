// Package signal is avhost's WebSocket signaling at /ws: a page sends an SDP offer for
// a session and gets the answer; ICE candidates may trickle both ways. One read pump
// and one write pump per connection; the viewers a connection opened are freed when
// it closes.
package signal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/whep"
)

// Handler serves /ws.
type Handler struct {
	Outputs whep.Outputs
	// CheckOrigin defaults to same origin (gorilla/websocket's default).
	CheckOrigin func(r *http.Request) bool
	// PingInterval defaults to 20 s; a peer silent for 3 intervals is closed.
	PingInterval time.Duration
	// Authorize, if set, gates each offer by the upgrade request and session.
	Authorize func(r *http.Request, session string) bool
	// OnInterrupt, if set, registers f to run at each interrupt of session; a
	// connection watching the session then sends "interrupted".
	OnInterrupt func(session string, f func()) (cancel func())
}

const maxMessage = 64 << 10

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: h.CheckOrigin}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ping := h.PingInterval
	if ping == 0 {
		ping = 20 * time.Second
	}
	c := &conn{h: h, ws: ws, req: r, out: make(chan signalproto.Message, 64), quit: make(chan struct{}), viewers: map[string]whep.Viewers{}, watches: map[string]func(){}}
	go c.writePump(ping)
	c.readPump(3 * ping)
}

type conn struct {
	h    *Handler
	req  *http.Request
	ws   *websocket.Conn
	out  chan signalproto.Message
	quit chan struct{}
	once sync.Once

	mu      sync.Mutex
	viewers map[string]whep.Viewers
	watches map[string]func() // session → cancel of its interrupt watch
}

func (c *conn) send(m signalproto.Message) {
	select {
	case c.out <- m:
	case <-c.quit:
	default: // a page that does not read its signaling: drop it
		c.stop()
	}
}

func (c *conn) stop() { c.once.Do(func() { close(c.quit) }) }

func (c *conn) readPump(wait time.Duration) {
	defer func() {
		c.stop()
		c.ws.Close()
		c.mu.Lock()
		for id, o := range c.viewers {
			o.RemoveViewer(id)
		}
		for _, cancel := range c.watches {
			cancel()
		}
		c.mu.Unlock()
	}()
	c.ws.SetReadLimit(maxMessage)
	c.ws.SetReadDeadline(time.Now().Add(wait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(wait)) })
	for {
		var m signalproto.Message
		if err := c.ws.ReadJSON(&m); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				c.send(signalproto.Message{Type: signalproto.TypeError, Error: "bad JSON: " + err.Error()})
				continue
			}
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(wait))
		c.handle(m)
	}
}

func (c *conn) handle(m signalproto.Message) {
	fail := func(msg string) {
		c.send(signalproto.Message{Type: signalproto.TypeError, Session: m.Session, Viewer: m.Viewer, Error: msg})
	}
	switch m.Type {
	case signalproto.TypeOffer:
		if c.h.Authorize != nil && !c.h.Authorize(c.req, m.Session) {
			fail("viewer token required for session " + m.Session)
			return
		}
		out, err := c.h.Outputs.Viewers(m.Session)
		if err != nil {
			fail("no such session: " + m.Session)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id, ans, err := out.AddViewer(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
		if err != nil {
			fail(err.Error())
			return
		}
		c.mu.Lock()
		c.viewers[id] = out
		if c.h.OnInterrupt != nil && c.watches[m.Session] == nil {
			sid := m.Session
			c.watches[sid] = c.h.OnInterrupt(sid, func() {
				c.send(signalproto.Message{Type: signalproto.TypeInterrupted, Session: sid})
			})
		}
		c.mu.Unlock()
		c.send(signalproto.Message{Type: signalproto.TypeAnswer, Session: m.Session, Viewer: id, SDP: ans.SDP})
	case signalproto.TypeCandidate:
		c.mu.Lock()
		out := c.viewers[m.Viewer]
		c.mu.Unlock()
		if out == nil || m.Candidate == nil {
			fail("candidate for an unknown viewer")
			return
		}
		if err := out.AddICECandidate(m.Viewer, webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate,
			SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex}); err != nil {
			fail(err.Error())
		}
	case signalproto.TypeBye:
		c.mu.Lock()
		out := c.viewers[m.Viewer]
		delete(c.viewers, m.Viewer)
		c.mu.Unlock()
		if out != nil {
			out.RemoveViewer(m.Viewer)
		}
	default:
		fail("unknown message type " + m.Type)
	}
}

func (c *conn) writePump(ping time.Duration) {
	t := time.NewTicker(ping)
	defer t.Stop()
	for {
		select {
		case m := <-c.out:
			c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteJSON(m); err != nil {
				c.stop()
				c.ws.Close()
				return
			}
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)); err != nil {
				c.stop()
				c.ws.Close()
				return
			}
		case <-c.quit:
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.ws.Close()
			return
		}
	}
}
