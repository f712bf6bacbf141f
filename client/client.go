// Package client is the Go client for avhost's ingest API (docs/ingest.md): one
// persistent WebSocket carrying any number of sessions, for a model server to hand
// avhost audio and frames, and to interrupt.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/ingestproto"
)

// Event is a server event (ingestproto.Message).
type Event = ingestproto.Message

// Formats, as declared on the wire.
type (
	AudioFormat = ingestproto.AudioFormat
	VideoFormat = ingestproto.VideoFormat
)

// ErrClosed is returned after the connection closed.
var ErrClosed = errors.New("client: connection closed")

// ServerError is an "error" event answering a request.
type ServerError struct{ Code, Message string }

func (e *ServerError) Error() string { return fmt.Sprintf("avhost: %s: %s", e.Code, e.Message) }

// Options configure Dial.
type Options struct {
	Token  string            // bearer token
	Dialer *websocket.Dialer // defaults to websocket.DefaultDialer
	// EventBuffer is each session's event channel size; defaults to 256. Events that
	// do not fit are dropped (position events come again every 200 ms).
	EventBuffer int
	// Reconnect keeps the connection: when it drops (server restart, network), the
	// client redials with exponential backoff and jitter between MinBackoff (default
	// 250 ms) and MaxBackoff (default 10 s), resumes every session with its token and
	// sends each a "resumed" event. Sends fail while it is down.
	Reconnect              bool
	MinBackoff, MaxBackoff time.Duration
}

// TypeResumed is the client-side event a session gets after a reconnect.
const TypeResumed = "resumed"

// Client is one connection to avhost.
type Client struct {
	ws      *websocket.Conn
	url     string
	opts    Options
	closing atomic.Bool
	wmu     sync.Mutex // one writer at a time (gorilla/websocket)

	mu       sync.Mutex
	sessions map[string]*Session
	waiters  map[string]chan Event // "session/type" → the request waiting for it
	err      error
	done     chan struct{}
}

// Dial connects to url (ws://host:port/ingest).
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	d := opts.Dialer
	if d == nil {
		d = websocket.DefaultDialer
	}
	if opts.EventBuffer == 0 {
		opts.EventBuffer = 256
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	opts.Dialer = d
	c := &Client{url: url, opts: opts, sessions: map[string]*Session{}, waiters: map[string]chan Event{}, done: make(chan struct{})}
	ws, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.ws = ws
	go c.read()
	return c, nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	h := http.Header{}
	if c.opts.Token != "" {
		h.Set("Authorization", "Bearer "+c.opts.Token)
	}
	ws, resp, err := c.opts.Dialer.DialContext(ctx, c.url, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("client: dial %s: %w (HTTP %d)", c.url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	ws.SetPingHandler(func(data string) error { // answer pings, as the default does, from the read loop
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
	})
	return ws, nil
}

// reconnect redials with exponential backoff and jitter until it succeeds or the
// client is closed, then resumes every session.
func (c *Client) reconnect() bool {
	backoff := c.opts.MinBackoff
	for !c.closing.Load() {
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, err := c.dial(ctx)
		cancel()
		if err == nil {
			c.wmu.Lock()
			c.ws = ws
			c.wmu.Unlock()
			go c.resumeAll()
			return true
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
	return false
}

func (c *Client) resumeAll() {
	c.mu.Lock()
	ss := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		ss = append(ss, s)
	}
	c.mu.Unlock()
	for _, s := range ss {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.request(ctx, Event{Type: ingestproto.TypeResume, Session: s.ID, Token: s.Token}, ingestproto.TypeCreated)
		e := Event{Type: TypeResumed, Session: s.ID}
		var se *ServerError
		if errors.As(err, &se) && se.Code == "unknown_session" && s.create.Type != "" {
			// A different avhost took over the port (hitless restart): the session
			// was drained there; make it again here with the same id and formats.
			var ce Event
			if ce, err = c.request(ctx, s.create, ingestproto.TypeCreated); err == nil {
				s.Token = ce.Token
				e.Code = "recreated"
			}
		}
		cancel()
		if err != nil {
			e = Event{Type: ingestproto.TypeError, Session: s.ID, Code: "resume_failed", Error: err.Error()}
		}
		select {
		case s.events <- e:
		default:
		}
	}
}

func (c *Client) read() {
	defer close(c.done)
	for {
		c.wmu.Lock()
		ws := c.ws
		c.wmu.Unlock()
		_, data, err := ws.ReadMessage()
		if err != nil {
			ws.Close()
			if c.opts.Reconnect && !c.closing.Load() && c.reconnect() {
				continue
			}
			c.mu.Lock()
			c.err = err
			for _, s := range c.sessions {
				close(s.events)
			}
			c.sessions = map[string]*Session{}
			c.mu.Unlock()
			return
		}
		var e Event
		if json.Unmarshal(data, &e) != nil {
			continue
		}
		c.dispatch(e)
	}
}

func (c *Client) dispatch(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A reply goes to the request waiting for it; an error answers whatever request
	// waits on that session.
	for k, w := range c.waiters {
		if k == e.Session+"/"+e.Type || (e.Type == ingestproto.TypeError && strings.HasPrefix(k, e.Session+"/")) {
			delete(c.waiters, k)
			w <- e
			return
		}
	}
	if s := c.sessions[e.Session]; s != nil {
		select {
		case s.events <- e:
		default: // the application is not reading: drop, position comes again
		}
	}
}

// request sends m and waits for an event of type want on m's session (or an error).
func (c *Client) request(ctx context.Context, m Event, want string) (Event, error) {
	w := make(chan Event, 1)
	key := m.Session + "/" + want
	c.mu.Lock()
	c.waiters[key] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.waiters[key] == w {
			delete(c.waiters, key)
		}
		c.mu.Unlock()
	}()
	if err := c.sendJSON(m); err != nil {
		return Event{}, err
	}
	select {
	case e := <-w:
		if e.Type == ingestproto.TypeError {
			return e, &ServerError{Code: e.Code, Message: e.Error}
		}
		return e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	case <-c.done:
		return Event{}, ErrClosed
	}
}

func (c *Client) sendJSON(m Event) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.write(websocket.TextMessage, b)
}

func (c *Client) write(kind int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(kind, b); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// CreateOption adjusts a create request.
type CreateOption func(*Event)

// WithBackend picks the session's WebRTC backend: "pion" (default) or "webrtcbin".
func WithBackend(b string) CreateOption { return func(e *Event) { e.Backend = b } }

// WithViewerToken makes watching the session over WebRTC require tok.
func WithViewerToken(tok string) CreateOption { return func(e *Event) { e.ViewerToken = tok } }

// Create creates session id with the given formats (nil: server defaults).
func (c *Client) Create(ctx context.Context, id string, v *VideoFormat, a *AudioFormat, opts ...CreateOption) (*Session, error) {
	m := Event{Type: ingestproto.TypeCreate, Session: id, Video: v, Audio: a}
	for _, o := range opts {
		o(&m)
	}
	return c.open(ctx, m)
}

// Resume takes over session id after a reconnect, with the token Create returned.
func (c *Client) Resume(ctx context.Context, id, token string) (*Session, error) {
	return c.open(ctx, Event{Type: ingestproto.TypeResume, Session: id, Token: token})
}

func (c *Client) open(ctx context.Context, m Event) (*Session, error) {
	s := &Session{c: c, ID: m.Session, events: make(chan Event, c.opts.EventBuffer)}
	c.mu.Lock()
	c.sessions[m.Session] = s
	c.mu.Unlock()
	e, err := c.request(ctx, m, ingestproto.TypeCreated)
	if err != nil {
		c.mu.Lock()
		if c.sessions[m.Session] == s {
			delete(c.sessions, m.Session)
		}
		c.mu.Unlock()
		return nil, err
	}
	s.Token, s.Audio, s.Video = e.Token, *e.Audio, *e.Video
	if m.Type == ingestproto.TypeCreate {
		s.create = m
	}
	return s, nil
}

// Close ends the connection with a close handshake (RFC 6455 §7.1.1): we send our
// close frame, wait for the server's, and then close TCP, so TIME_WAIT stays here.
func (c *Client) Close() error {
	c.closing.Store(true)
	c.write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.Close()
}

// Done is closed when the connection ended.
func (c *Client) Done() <-chan struct{} { return c.done }
