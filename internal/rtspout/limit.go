package rtspout

import (
	"net"
	"sync"
	"time"

	"github.com/avhost/avhost/internal/netopt"
)

// Idle limits. gortsplib clears the read deadline before each of its read loops
// (v4.12.3 server_conn_reader.go) and sets none while a reader plays, so a connection
// that never sent a byte kept its slot forever: with 64 per address, 16 addresses
// held all 1,000. limitConn sets its own deadline on every Read instead.
const (
	// sessionTimeout is gortsplib's RTSP session timeout (server.go: sessionTimeout,
	// not settable), advertised to UDP readers as "Session: …;timeout=60": they keep
	// their session alive within it by a request on this connection or RTCP on the
	// UDP port. Clients keep alive every timeout/2 (ffmpeg, rtspsrc, gortsplib: 30 s).
	sessionTimeout = 60 * time.Second
	// playingIdle is how long a connection that has played may go without sending a
	// byte: twice the session timeout, so a UDP reader whose only traffic here is one
	// keepalive per timeout is never cut. TCP readers also send RTCP receiver reports
	// here, and one that stops reading is cut by gortsplib's 10 s write deadline.
	// Cutting the connection of a UDP reader does not end its session (gortsplib
	// keeps a playing UDP session without a connection until its own timeout).
	playingIdle = 2 * sessionTimeout
)

// limitListener caps open connections, in all and per client address: RTSP answers
// anyone before a credential is checked, so each connection (a goroutine, buffers) is
// capped like every other unauthenticated surface. A connection over a cap is closed
// at once; the count and the insert happen under one lock.
type limitListener struct {
	net.Listener
	max, perAddr int
	idle         time.Duration // Config.IdleTimeout

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

func newLimitListener(l net.Listener, max, perAddr int, idle time.Duration) *limitListener {
	return &limitListener{Listener: l, max: max, perAddr: perAddr, idle: idle, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		l.mu.Lock()
		ok := l.total < l.max && l.byAddr[addr] < l.perAddr
		if ok {
			l.total++
			l.byAddr[addr]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &limitConn{Conn: c, release: func() { l.release(addr) }, handshake: l.idle, last: time.Now()}, nil
	}
}

func (l *limitListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// hostOf is the key a client is capped under: an IPv4 address or an IPv6 /64.
func hostOf(a net.Addr) string {
	return netopt.ClientKey(a.String())
}

// limitConn gives its slot back once, on the first Close, and closes itself when
// idle. Before it plays, idle means no complete request for Config.IdleTimeout
// (bytes alone do not count, so a request trickled a byte at a time does not keep
// it); after, no byte at all for playingIdle. The server marks both (answered,
// played); gortsplib's only reader goroutine calls Read.
type limitConn struct {
	net.Conn
	once      sync.Once
	release   func()
	handshake time.Duration // Config.IdleTimeout

	mu      sync.Mutex
	last    time.Time // the last answer, or the last byte once playing
	playing bool
	lib     time.Time // a deadline gortsplib set itself; zero: none
}

func (c *limitConn) Read(p []byte) (int, error) {
	c.applyDeadline()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.playing {
			c.last = time.Now()
		}
		c.mu.Unlock()
	}
	return n, err
}

// SetReadDeadline keeps gortsplib's deadline (it sets one only for a publisher in
// RECORD, and clears it otherwise); the earlier of it and the idle limit applies.
func (c *limitConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.lib = t
	c.mu.Unlock()
	return c.applyDeadline()
}

func (c *limitConn) applyDeadline() error {
	c.mu.Lock()
	d := c.last.Add(c.handshake)
	if c.playing {
		d = c.last.Add(playingIdle)
	}
	if !c.lib.IsZero() && c.lib.Before(d) {
		d = c.lib
	}
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(d)
}

// answered restarts the idle limit: the client has had its answer.
func (c *limitConn) answered() {
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
}

// played switches to the playing limit (on) or back to the handshake one (off, once
// the session has ended).
func (c *limitConn) played(on bool) {
	c.mu.Lock()
	c.playing, c.last = on, time.Now()
	c.mu.Unlock()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connOf is the limitConn under a gortsplib connection (nil for another kind).
func connOf(nc net.Conn) *limitConn {
	c, _ := nc.(*limitConn)
	return c
}
