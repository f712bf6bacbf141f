package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
)

var welcome, _ = json.Marshal(ingestproto.Message{Type: ingestproto.TypeWelcome, Version: ingestproto.Version})

// outQueue bounds events waiting for a slow client: past it the client is closed,
// so a consumer that stops reading cannot grow server memory. The queue is a slice
// that exists only while events wait, so an idle connection holds none of it.
const outQueue = 256

// conn is one client connection: a read pump (this goroutine) and a write pump, the
// only goroutine that writes (gorilla/websocket allows one concurrent writer).
type conn struct {
	srv      *Server
	ws       *websocket.Conn
	ip       string
	omu      sync.Mutex
	queue    []outMsg      // events waiting for the write pump; nil when idle
	wake     chan struct{} // tells the write pump the queue has something
	quit     chan struct{}
	once     sync.Once
	readDone chan struct{} // the read pump has returned
	peerBye  atomic.Bool   // it returned on the client's close frame (not an error)
	tooSlow  atomic.Bool   // logged once: a client sending garbage flat out overflows its queue at every reply

	mu       sync.Mutex
	sessions map[string]bool

	refusals refusalBudget // read pump only
}

// refusalBudget paces a connection whose messages keep being refused: past a burst of
// 64, at most 100 refusals a second. The read pump waits, so a client sending garbage
// flat out is held by TCP backpressure instead of costing a core (and its GC).
type refusalBudget struct{ tat time.Time }

func (b *refusalBudget) wait() {
	const every, burst = 10 * time.Millisecond, 64
	now := time.Now()
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(every)
	if d := b.tat.Sub(now) - burst*every; d > 0 {
		time.Sleep(d)
	}
}

type outMsg struct {
	kind int
	data []byte
}

func newConn(s *Server, ws *websocket.Conn, ip string) *conn {
	return &conn{srv: s, ws: ws, ip: ip, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		readDone: make(chan struct{}), sessions: map[string]bool{}}
}

// push queues a message for the write pump without blocking; false when full.
func (c *conn) push(m outMsg) bool {
	c.omu.Lock()
	if len(c.queue) >= outQueue {
		c.omu.Unlock()
		return false
	}
	c.queue = append(c.queue, m)
	c.omu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// send queues an event without blocking; a full queue closes the connection.
func (c *conn) send(m ingestproto.Message) {
	b, _ := json.Marshal(m)
	if !c.push(outMsg{websocket.TextMessage, b}) {
		if c.tooSlow.CompareAndSwap(false, true) {
			c.srv.cfg.Log.Warn("ingest client too slow, closing", "addr", c.ip)
		}
		c.stop()
	}
}

func (c *conn) stop() { c.once.Do(func() { close(c.quit) }) }

// goAway asks the client to reconnect (server restart or shutdown).
func (c *conn) goAway() {
	b := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server restarting")
	if !c.push(outMsg{websocket.CloseMessage, b}) {
		c.stop()
	}
}

// fail refuses a message. What goes back is bounded whatever the client sent: the
// session id only if it is no longer than one may be (a client matches the error to
// its request by it, also when the id was refused), and the reason cut at maxReason
// bytes (a decode error quotes the value it refused, a number or a type of
// megabytes). Echoed whole, 256 of them queued for a client that does not read held
// gigabytes.
func (c *conn) fail(sess string, utt uint32, code string, err error) {
	if len(sess) > ingestproto.MaxSessionID {
		sess = ""
	}
	reason := err.Error()
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…"
	}
	c.send(ingestproto.Message{Type: ingestproto.TypeError, Session: sess, Utterance: utt, Code: code, Error: reason})
	c.refusals.wait()
}

// maxReason bounds the text of an error message.
const maxReason = 256

func (c *conn) run() {
	cfg := c.srv.cfg
	// The welcome goes out before the write pump starts (so from this, the only
	// writer): one context switch less per connection, which churn feels.
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.ws.WriteMessage(websocket.TextMessage, welcome)
	writerDone := make(chan struct{})
	go c.writePump(writerDone)
	defer func() {
		close(c.readDone)
		c.stop()
		<-writerDone
		c.ws.Close()
		c.mu.Lock()
		ids := make([]string, 0, len(c.sessions))
		for id := range c.sessions {
			ids = append(ids, id)
		}
		c.mu.Unlock()
		// The sessions stay, utterance and all, for ResumeGrace: a client that comes
		// back with its token carries on where it was; one that does not is closed.
		for _, id := range ids {
			if s, ok := c.srv.session(id, c); ok {
				s.SetEventHandler(nil)
			}
			c.srv.detach(id, c)
		}
	}()
	c.ws.SetReadLimit(cfg.MaxMessage)
	c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait)) })
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			c.peerBye.Store(errors.As(err, &ce))
			return // closed, timed out (no pong), or over the size limit (1009 sent)
		}
		c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
		if kind == websocket.BinaryMessage {
			c.binary(data)
		} else {
			c.text(data)
		}
	}
}

func (c *conn) writePump(done chan struct{}) {
	defer close(done)
	ping := time.NewTicker(c.srv.cfg.PingInterval)
	defer ping.Stop()
	const writeWait = 10 * time.Second
	for {
		select {
		case <-c.wake:
			c.omu.Lock()
			q := c.queue
			c.queue = nil
			c.omu.Unlock()
			for _, m := range q {
				c.ws.SetWriteDeadline(time.Now().Add(writeWait))
				if err := c.ws.WriteMessage(m.kind, m.data); err != nil || m.kind == websocket.CloseMessage {
					c.stop()
					c.ws.Close() // unblocks the read pump
					return
				}
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				c.stop()
				c.ws.Close()
				return
			}
		case <-c.quit:
			c.closeHandshake()
			return
		}
	}
}

func (c *conn) text(data []byte) {
	m, err := ingestproto.DecodeText(data)
	if err != nil {
		c.fail(m.Session, m.Utterance, decodeCode(err), err)
		return
	}
	if m.Type == ingestproto.TypeCreate || m.Type == ingestproto.TypeResume {
		c.open(m)
		return
	}
	s, ok := c.openSession(m.Session, m.Utterance)
	if !ok {
		return
	}
	switch m.Type {
	case ingestproto.TypeBegin:
		var a ingestproto.AudioFormat
		if m.Audio != nil {
			a = *m.Audio
		}
		f, err := s.AudioFormat(a.Rate, a.Channels, a.Sample)
		if err == nil {
			err = s.Begin(m.Utterance, f, m.Frames)
		}
		if err != nil {
			c.fail(m.Session, m.Utterance, code(err), err)
		}
	case ingestproto.TypeCaption:
		c.caption(s, m)
	case ingestproto.TypeEnd:
		if err := s.End(m.Utterance); err != nil {
			c.fail(m.Session, m.Utterance, code(err), err)
		}
	case ingestproto.TypeInterrupt:
		id, pos, ok := s.Interrupt()
		if !ok {
			c.fail(m.Session, m.Utterance, code(session.ErrNotPlaying), session.ErrNotPlaying)
			return
		}
		c.send(ingestproto.Message{Type: ingestproto.TypeInterrupted, Session: m.Session, Utterance: id,
			PlayedSamples: pos.Samples, PlayedMS: ms(pos.Played)})
	case ingestproto.TypeIdleClip:
		c.idleClip(s, m)
	case ingestproto.TypeClose:
		c.mu.Lock()
		delete(c.sessions, m.Session)
		c.mu.Unlock()
		s.SetEventHandler(nil)
		c.srv.release(m.Session)
		c.srv.cfg.Sessions.Close(m.Session)
		c.send(ingestproto.Message{Type: ingestproto.TypeClosed, Session: m.Session})
	}
}

// open handles create and resume.
func (c *conn) open(m ingestproto.Message) {
	c.mu.Lock()
	n := len(c.sessions)
	c.mu.Unlock()
	if n >= c.srv.cfg.MaxSessionsPerConn {
		c.fail(m.Session, 0, "limit", fmt.Errorf("at most %d sessions per connection", c.srv.cfg.MaxSessionsPerConn))
		return
	}
	var s *session.Session
	var err error
	if m.Type == ingestproto.TypeResume {
		if s, err = c.srv.cfg.Sessions.Get(m.Session); err == nil && !auth.Equal(m.Token, s.Token) {
			err = errors.New("wrong resume token")
		}
	} else {
		cfg := c.srv.cfg.Defaults
		cfg.ID = m.Session
		// What the client leaves out keeps the host's default. Every value is text or
		// a number from the network: session.Manager.Create parses each whole into a
		// bounded type and refuses the rest (bad_config).
		if v := m.Video; v != nil {
			setInt(&cfg.Width, v.Width)
			setInt(&cfg.Height, v.Height)
			setString(&cfg.FPS, v.FPS)
			setString(&cfg.Format, v.Format)
		}
		if a := m.Audio; a != nil {
			setInt(&cfg.Rate, a.Rate)
			setInt(&cfg.Channels, a.Channels)
		}
		if m.ViewerToken != "" {
			cfg.ViewerToken = m.ViewerToken
		}
		if m.Backend != "" {
			cfg.Backend = m.Backend
		}
		s, err = c.srv.cfg.Sessions.Create(cfg)
	}
	if err != nil {
		c.fail(m.Session, 0, code(err), err)
		return
	}
	// A resume with the right token takes the session over even if the old connection
	// has not noticed it is gone yet.
	if !c.srv.claim(m.Session, c, m.Type == ingestproto.TypeResume) {
		c.fail(m.Session, 0, "not_owner", errors.New("session is driven by another connection"))
		return
	}
	c.mu.Lock()
	c.sessions[m.Session] = true
	c.mu.Unlock()
	s.SetEventHandler(c.event)
	cfg := s.Config()
	c.send(ingestproto.Message{Type: ingestproto.TypeCreated, Session: s.ID, Token: s.Token,
		Audio: &ingestproto.AudioFormat{Rate: cfg.Rate, Channels: cfg.Channels, Sample: "s16"},
		Video: &ingestproto.VideoFormat{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Format: cfg.Format}})
}

func setInt(dst *int, v int) {
	if v != 0 {
		*dst = v
	}
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// openSession is session id if this connection has it open; otherwise it tells the
// client so (unknown_session) and reports false.
func (c *conn) openSession(id string, utt uint32) (*session.Session, bool) {
	s, ok := c.srv.session(id, c)
	if !ok {
		c.fail(id, utt, "unknown_session", fmt.Errorf("session %q is not open on this connection", id))
	}
	return s, ok
}

func (c *conn) binary(data []byte) {
	b, err := ingestproto.DecodeBinary(data)
	if err != nil {
		c.fail("", 0, "bad_message", err)
		return
	}
	s, ok := c.openSession(b.Session, b.Utterance)
	if !ok {
		return
	}
	switch b.Kind {
	case ingestproto.KindAudio:
		err = s.Audio(b.Utterance, b.Payload)
	case ingestproto.KindFrame:
		err = s.Frame(b.Utterance, int64(b.Index), b.Payload)
		if errors.Is(err, session.ErrLate) {
			err = nil // counted, reported in position events
		}
	case ingestproto.KindIdle:
		err = s.Idle(b.Payload)
	case ingestproto.KindIdleClip:
		err = c.idleClipFrame(s, b)
	}
	if err != nil {
		c.fail(b.Session, b.Utterance, code(err), err)
	}
}

// closeHandshake ends the connection (RFC 6455 §7.1.1): our close frame goes out (or
// answers the client's), then we wait for the client to close TCP before we do. The
// side that closes TCP first holds TIME_WAIT for 60 s; a server that does it for every
// connection piles up TIME_WAIT under churn, so avhost lets its clients close first
// and only closes itself after lingerWait (a dead or rude peer).
func (c *conn) closeHandshake() {
	const lingerWait = 2 * time.Second
	select {
	case <-c.readDone:
		// The client ended it (gorilla's close handler has already answered its close
		// frame), or it is gone: nothing more to send.
	default:
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		select {
		case <-c.readDone: // the client's close frame (or an error) ended the read pump
		case <-time.After(lingerWait):
		}
	}
	if c.peerBye.Load() { // a live client that said goodbye: let it close TCP first
		nc := c.ws.NetConn()
		nc.SetReadDeadline(time.Now().Add(lingerWait))
		io.Copy(io.Discard, nc) // until the client's FIN
	}
	c.ws.Close()
}
