package rtspout

import (
	"net"
	"sync"

	"github.com/avhost/avhost/internal/netopt"
)

// limitListener caps open connections, in all and per client address: RTSP answers
// anyone before a credential is checked, so each connection (a goroutine, buffers) is
// capped like every other unauthenticated surface. A connection over a cap is closed
// at once; the count and the insert happen under one lock.
type limitListener struct {
	net.Listener
	max, perAddr int

	mu     sync.Mutex
	total  int
	byAddr map[string]int
}

func newLimitListener(l net.Listener, max, perAddr int) *limitListener {
	return &limitListener{Listener: l, max: max, perAddr: perAddr, byAddr: map[string]int{}}
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
		return &limitConn{Conn: c, release: func() { l.release(addr) }}, nil
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

func hostOf(a net.Addr) string {
	return netopt.ClientKey(a.String())
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
