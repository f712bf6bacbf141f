package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
)

// TestSlowClientsAreCutWebSocketsStay: issue 10 row 12. Clients that send their body
// or their headers a byte at a time are cut at the read deadlines, while an ingest
// WebSocket opened before them still works after those deadlines have passed.
func TestSlowClientsAreCutWebSocketsStay(t *testing.T) {
	const headerTimeout, readTimeout = 500 * time.Millisecond, time.Second
	h := startHost(t, func(c *server.Config) {
		c.HTTP = server.HTTPConfig{ReadHeaderTimeout: headerTimeout, ReadTimeout: readTimeout}
	})
	ingest := dial(t, h) // upgraded before the slow clients come
	opened := time.Now()
	addr := strings.TrimPrefix(h.web, "http://")
	cases := []struct {
		name, head, drip string
		within           time.Duration
	}{
		{"a JSON body sent a byte at a time", "POST /api/sessions/demo/whip HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + token +
			"\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{", " ", readTimeout},
		{"an anonymous SDP body sent a byte at a time", "POST /whep/nosuch HTTP/1.1\r\nHost: a\r\nContent-Type: application/sdp\r\nContent-Length: 4000\r\n\r\nv", "=", readTimeout},
		{"headers sent a byte at a time", "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ", "a", headerTimeout},
	}
	type result struct {
		i   int
		cut time.Duration
	}
	results := make(chan result, len(cases))
	stop := make(chan struct{})
	defer close(stop)
	for i, c := range cases {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, c.head)
		go func() { // a byte every 50 ms: never idle long, never done
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := io.WriteString(conn, c.drip); err != nil {
						return
					}
				}
			}
		}()
		go func() {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, conn) // until the server closes it (or the 10 s guard)
			results <- result{i, time.Since(start)}
		}()
	}
	for range cases {
		r := <-results
		c := cases[r.i]
		t.Logf("%s: cut after %v", c.name, r.cut.Round(time.Millisecond))
		if r.cut > c.within+time.Second {
			t.Errorf("%s: still open after %v, want cut by %v", c.name, r.cut.Round(time.Millisecond), c.within)
		}
	}
	if time.Since(opened) < readTimeout {
		t.Fatal("the check below would prove nothing: the read timeout has not passed yet")
	}
	create(t, ingest, "after") // the WebSocket from before the deadlines still works
}

// TestOversizeHeadersAreRefused: a request whose headers pass MaxHeaderBytes gets 431.
func TestOversizeHeadersAreRefused(t *testing.T) {
	h := startHost(t, func(c *server.Config) { c.HTTP = server.HTTPConfig{MaxHeaderBytes: 8 << 10} })
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.web, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Written aside: the server answers after MaxHeaderBytes (plus net/http's 4 KiB
	// slack) and stops reading, so the write may not finish.
	go io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("b", 32<<10)+"\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("32 KiB of headers: %d, want 431", resp.StatusCode)
	}
}
