package server

import (
	"net"
	"sync"

	"github.com/avhost/avhost/internal/netopt"
)

// connLimit caps the HTTP listener's open connections, in all and per client
// (netopt.ClientKey: an IPv4 address or an IPv6 /64). Each connection costs a
// goroutine, buffers and a file descriptor before any request is read, and keep-alive
// holds it for IdleTimeout: 5,000 idle connections from one address were all held
// (+80 MiB, 5,027 fds) without it. The per-route caps (/ws, /ingest: 16 per address)
// count upgraded connections only; this counts every one. A connection over a cap is
// closed at accept, before a byte is read; the check and the count are under one
// lock. WebSockets keep their connection's slot until they close.
type connLimit struct {
	net.Listener
	max, perAddr int // ≤ 0: no cap

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

// limitConns wraps l with c's caps (l itself when both are off).
func limitConns(l net.Listener, c HTTPConfig) net.Listener {
	c.fill()
	if c.MaxConns < 0 && c.MaxConnsPerAddr < 0 {
		return l
	}
	return &connLimit{Listener: l, max: c.MaxConns, perAddr: c.MaxConnsPerAddr, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps; those past them are closed.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := netopt.ClientKey(c.RemoteAddr().String())
		if !l.take(key) {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.give(key) }}, nil
	}
}

func (l *connLimit) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max || l.perAddr > 0 && l.byAddr[key] >= l.perAddr {
		return false
	}
	l.total++
	l.byAddr[key]++
	return true
}

func (l *connLimit) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[key]--; l.byAddr[key] <= 0 {
		delete(l.byAddr, key)
	}
}

// limitedConn gives its slot back once, on the first Close (net/http and
// gorilla/websocket both close a connection once; a second Close must not count).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
