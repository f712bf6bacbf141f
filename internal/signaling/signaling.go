// Package signaling is avhost's WebSocket signaling at /ws: a page sends an SDP offer for
// a session and gets the answer; ICE candidates may trickle both ways. One read pump
// and one write pump per connection; the viewers a connection opened are freed when
// it closes.
//
// /ws takes connections before any credential, so it is capped and timed: a cap on
// open connections overall and per remote address (checked and counted under one
// lock, before the upgrade), a deadline for the first message, a deadline for a
// connection that holds no viewer, a cap on the viewers one connection holds, and a
// read limit per message. Its viewers count against the host's caps like WHEP's.
package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/viewers"
)

// Defaults of Handler's caps and deadlines.
const (
	DefaultMaxConns          = 1000
	DefaultMaxConnsPerAddr   = 16
	DefaultFirstMessage      = 10 * time.Second
	DefaultIdleWithoutViewer = 30 * time.Second
	DefaultMaxViewersPerConn = 4
)

// Limits are /ws's caps and deadlines; zero fields take the defaults.
type Limits struct {
	// MaxConns caps open connections (503 past it); defaults to 1000.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerAddr caps open connections from one remote IP address (429 past it);
	// defaults to 16. Behind a reverse proxy every client has the proxy's address.
	MaxConnsPerAddr int `yaml:"max_conns_per_addr"`
	// FirstMessage is how long a new connection may send nothing before it is closed
	// (answering pings does not count); defaults to 10 s.
	FirstMessage time.Duration `yaml:"first_message"`
	// IdleWithoutViewer is how long a connection may hold no viewer (never made one,
	// or all left or were freed) before it is closed; defaults to 30 s. Any message
	// counts as speaking for FirstMessage, so without this a client that sends "bye"
	// now and then held a connection forever. Negative: never.
	IdleWithoutViewer time.Duration `yaml:"idle_without_viewer"`
	// MaxViewersPerConn caps the viewers one connection holds; defaults to 4.
	MaxViewersPerConn int `yaml:"max_viewers_per_conn"`
}

// Handler serves /ws.
type Handler struct {
	Outputs viewers.Outputs
	// CheckOrigin defaults to same origin (gorilla/websocket's default).
	CheckOrigin func(r *http.Request) bool
	// PingInterval defaults to 20 s; a peer silent for 3 intervals is closed.
	PingInterval time.Duration
	// Credential, if set, returns the credential of an upgrade request ("" for none),
	// e.g. its bearer header or the token a single-use ticket stands for. It is called
	// once, after the upgrade succeeded.
	Credential func(r *http.Request) string
	// Authorize, if set, says whether the connection's credential may watch session.
	// A refusal gets the very error an unknown session gets. nil allows all.
	Authorize func(cred, session string) bool
	// Credentialed, if set, says whether cred admits to session by itself (its viewer
	// token or the host token): such a viewer is not held to the host's anonymous
	// caps (viewers.HostCaps).
	Credentialed func(cred, session string) bool
	// OnInterrupt, if set, registers f to run at each interrupt of session; a
	// connection watching the session then sends "interrupted".
	OnInterrupt func(session string, f func()) (cancel func())
	// OnSpeech, if set, registers f to get the session's speech events
	// (signalproto/speech.go), interrupted included; a connection watching the
	// session sends each, and OnInterrupt is not used. f must not block.
	OnSpeech func(session string, f func(signalproto.Message)) (cancel func())
	// Limits caps and times connections (defaults in Limits).
	Limits Limits
	// ICEServers, if set, gives the ICE servers for one viewer, called once per
	// answer (a TURN credential is minted per viewer); they go in the answer
	// (signalproto.Message.ICEServers).
	ICEServers func() []signalproto.ICEServer

	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

const maxMessage = 64 << 10

// Both answers of an offer for a session the connection may not see.
const noSession = "no such session"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := netopt.ClientKey(r.RemoteAddr)
	if status := h.admit(addr); status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer h.leave(addr)
	up := websocket.Upgrader{CheckOrigin: h.CheckOrigin}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	var cred string
	if h.Credential != nil {
		cred = h.Credential(r)
	}
	ping := h.PingInterval
	if ping == 0 {
		ping = 20 * time.Second
	}
	first := h.Limits.FirstMessage
	if first == 0 {
		first = DefaultFirstMessage
	}
	idle := h.Limits.IdleWithoutViewer
	if idle == 0 {
		idle = DefaultIdleWithoutViewer
	}
	c := &conn{h: h, ws: ws, cred: cred, addr: r.RemoteAddr, out: make(chan signalproto.Message, 64), quit: make(chan struct{}),
		viewers: map[string]viewers.Backend{}, cands: map[string]int{}, watches: map[string]func(){}}
	go c.writePump(ping, idle)
	c.readPump(first, 3*ping)
}

// admit counts a new connection from addr, or returns the status refusing it.
func (h *Handler) admit(addr string) int {
	max, perAddr := h.Limits.MaxConns, h.Limits.MaxConnsPerAddr
	if max == 0 {
		max = DefaultMaxConns
	}
	if perAddr == 0 {
		perAddr = DefaultMaxConnsPerAddr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.open >= max:
		return http.StatusServiceUnavailable
	case h.byAddr[addr] >= perAddr:
		return http.StatusTooManyRequests
	}
	if h.byAddr == nil {
		h.byAddr = map[string]int{}
	}
	h.open++
	h.byAddr[addr]++
	return 0
}

func (h *Handler) leave(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open--
	if h.byAddr[addr]--; h.byAddr[addr] <= 0 {
		delete(h.byAddr, addr)
	}
}

// Conns is the number of open connections.
func (h *Handler) Conns() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

type conn struct {
	h    *Handler
	cred string
	addr string // the peer's address, for the host's per-address caps
	ws   *websocket.Conn
	out  chan signalproto.Message
	quit chan struct{}
	once sync.Once

	mu       sync.Mutex
	viewers  map[string]viewers.Backend
	cands    map[string]int    // viewer → remote candidates it trickled (viewers.MaxCandidates)
	watches  map[string]func() // session → cancel of its interrupt watch
	offering bool              // an offer is being answered: it counts as holding a viewer
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

// readPump reads until the connection fails. Until the first message the deadline is
// first and pongs do not extend it (WebSocket libraries answer pings on their own, so
// a client that never speaks would otherwise stay forever); after it, any frame
// (message or pong) extends it by wait.
func (c *conn) readPump(first, wait time.Duration) {
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
	spoke := false
	c.ws.SetReadLimit(maxMessage)
	c.ws.SetReadDeadline(time.Now().Add(first))
	c.ws.SetPongHandler(func(string) error {
		if !spoke {
			return nil
		}
		return c.ws.SetReadDeadline(time.Now().Add(wait))
	})
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
		spoke = true
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
		if c.h.Authorize != nil && !c.h.Authorize(c.cred, m.Session) {
			fail(noSession)
			return
		}
		out, err := c.h.Outputs.Viewers(m.Session)
		if err != nil {
			fail(noSession)
			return
		}
		if err := viewers.CheckOffer(m.SDP); err != nil {
			fail(viewers.Reason(err))
			return
		}
		if !c.roomForViewer() {
			fail("too many viewers on this connection")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl := viewers.Client{Owner: c.cred, Addr: c.addr, Credentialed: c.h.Credentialed != nil && c.h.Credentialed(c.cred, m.Session)}
		c.setOffering(true)
		id, ans, err := out.AddViewer(ctx, m.SDP, cl)
		if err != nil {
			c.setOffering(false)
			fail(viewers.Reason(err))
			return
		}
		c.mu.Lock()
		c.offering = false // with the insert, so the idle check never sees neither
		c.viewers[id] = out
		if sid := m.Session; c.watches[sid] == nil {
			switch {
			case c.h.OnSpeech != nil:
				c.watches[sid] = c.h.OnSpeech(sid, c.send)
			case c.h.OnInterrupt != nil:
				c.watches[sid] = c.h.OnInterrupt(sid, func() {
					c.send(signalproto.Message{Type: signalproto.TypeInterrupted, Session: sid})
				})
			}
		}
		c.mu.Unlock()
		c.send(signalproto.Message{Type: signalproto.TypeAnswer, Session: m.Session, Viewer: id, SDP: ans, ICEServers: c.h.iceServers()})
	case signalproto.TypeCandidate:
		c.mu.Lock()
		out := c.viewers[m.Viewer]
		n := c.cands[m.Viewer]
		if out != nil && n < viewers.MaxCandidates {
			c.cands[m.Viewer] = n + 1
		}
		c.mu.Unlock()
		if out == nil || m.Candidate == nil {
			fail("candidate for an unknown viewer")
			return
		}
		if n >= viewers.MaxCandidates {
			fail(fmt.Sprintf("too many candidates: at most %d per viewer", viewers.MaxCandidates))
			return
		}
		if err := out.AddICECandidate(m.Viewer, viewers.Candidate{Candidate: m.Candidate.Candidate,
			SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex}); err != nil {
			fail(viewers.Reason(err))
		}
	case signalproto.TypeBye:
		c.mu.Lock()
		out := c.viewers[m.Viewer]
		delete(c.viewers, m.Viewer)
		delete(c.cands, m.Viewer)
		c.mu.Unlock()
		if out != nil {
			out.RemoveViewer(m.Viewer)
		}
	default:
		fail("unknown message type " + m.Type)
	}
}

// roomForViewer forgets the viewers their output already freed (failed ICE, never
// connected) and says whether the connection may open another. Offers are handled one
// at a time on the read pump, so the check and the later insert cannot interleave.
func (c *conn) roomForViewer() bool {
	max := c.h.Limits.MaxViewersPerConn
	if max == 0 {
		max = DefaultMaxViewersPerConn
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetFreed()
	return len(c.viewers) < max
}

// forgetFreed drops the viewers their output freed on its own; c.mu is held.
func (c *conn) forgetFreed() {
	for id, o := range c.viewers {
		if _, ok := o.Owner(id); !ok {
			delete(c.viewers, id)
		}
	}
}

func (c *conn) setOffering(b bool) {
	c.mu.Lock()
	c.offering = b
	c.mu.Unlock()
}

// holdsViewer says whether the connection has a live viewer or is making one.
func (c *conn) holdsViewer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetFreed()
	return c.offering || len(c.viewers) > 0
}

// writePump is the connection's only writer. It also closes the connection once it
// has held no viewer for idle (checked every idle/8, within 1 s): viewers are freed by
// their outputs too (ICE failure, the connect deadline), without telling the
// connection, so this is a poll rather than a timer reset on each bye.
func (c *conn) writePump(ping, idle time.Duration) {
	t := time.NewTicker(ping)
	defer t.Stop()
	var check <-chan time.Time
	if idle > 0 {
		ct := time.NewTicker(min(max(idle/8, 10*time.Millisecond), time.Second))
		defer ct.Stop()
		check = ct.C
	}
	held := time.Now() // when the connection was last seen holding a viewer (or born)
	for {
		select {
		case now := <-check:
			if c.holdsViewer() {
				held = now
			} else if now.Sub(held) >= idle {
				c.closeWith(websocket.ClosePolicyViolation, "no viewer")
				return
			}
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
			c.closeWith(websocket.CloseNormalClosure, "")
			return
		}
	}
}

// closeWith sends a close frame (RFC 6455 §7.4.1 code) and closes; writePump only.
func (c *conn) closeWith(code int, reason string) {
	c.stop()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.ws.Close()
}

func (h *Handler) iceServers() []signalproto.ICEServer {
	if h.ICEServers == nil {
		return nil
	}
	return h.ICEServers()
}
