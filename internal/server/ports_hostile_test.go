package server_test

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
)

// Anyone can open connections to the ICE-TCP port. One address gets
// ICETCPMaxConnsPerAddr of them (the rest are closed at accept), and a connection that
// sends no STUN binding request is closed within seconds, so a flood holds neither
// descriptors nor goroutines for long.
func TestPortsICETCPConnectionsCappedAndSilentOnesClosed(t *testing.T) {
	h := portsHost(t, "127.0.0.1:0", "127.0.0.1:0")
	_, tcp := h.srv.ICEAddrs()
	const extra = 6
	n := server.ICETCPMaxConnsPerAddr + extra
	closedAt := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		c, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if errors.Is(err, os.ErrDeadlineExceeded) {
				closedAt[i] = -1 // never closed
				return
			}
			closedAt[i] = time.Since(start)
		}()
	}
	wg.Wait()
	var early, timedOut, open int
	for _, d := range closedAt {
		switch {
		case d < 0:
			open++
		case d < 2*time.Second:
			early++
		default:
			timedOut++
		}
	}
	t.Logf("%d connections from one address: %d closed at accept, %d closed silent after ≈5 s, %d left open", n, early, timedOut, open)
	if early != extra || timedOut != server.ICETCPMaxConnsPerAddr || open != 0 {
		t.Fatalf("want %d closed at accept and %d closed for silence", extra, server.ICETCPMaxConnsPerAddr)
	}
}
