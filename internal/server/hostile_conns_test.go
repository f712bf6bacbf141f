package server_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/signalproto"
)

// rawConn is one keep-alive HTTP connection opened from local address ip.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func tcpFrom(t *testing.T, h *host, ip string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(h.web, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c, bufio.NewReader(c)}
}

// healthz asks GET /healthz on the connection: nil when answered 200, else why not.
// A connection closed by the server fails at once (EOF or reset), not by the deadline.
func (c *rawConn) healthz() error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: avhost\r\n\r\n")); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// TestHTTPConnectionCapsHold: keep-alive connections beyond the per-address cap are
// closed at accept while the first ones keep working; another address still gets in
// up to the global cap; a closed connection frees its slot.
func TestHTTPConnectionCapsHold(t *testing.T) {
	h := startHost(t, func(c *server.Config) { c.HTTP.MaxConns, c.HTTP.MaxConnsPerAddr = 10, 8 })
	tally := func(cs []*rawConn) (ok int, errs []error) {
		for _, c := range cs {
			start := time.Now()
			err := c.healthz()
			if err == nil {
				ok++
				continue
			}
			if ne, isNet := err.(net.Error); isNet && ne.Timeout() || time.Since(start) > 2*time.Second {
				t.Fatalf("a connection past the cap was left open, not closed: %v", err)
			}
			errs = append(errs, err)
		}
		return
	}
	var one []*rawConn
	for range 11 {
		one = append(one, tcpFrom(t, h, "127.0.0.1"))
	}
	if ok, errs := tally(one); ok != 8 || len(errs) != 3 {
		t.Fatalf("11 connections from one address: %d answered, %d closed (%v); want 8 and 3", ok, len(errs), errs)
	}
	// Accept is in connect order: the first 8 are the ones held, and still work.
	if ok, errs := tally(one[:8]); ok != 8 {
		t.Fatalf("the first 8 connections, asked again: %v", errs)
	}
	two := []*rawConn{tcpFrom(t, h, "127.0.0.2"), tcpFrom(t, h, "127.0.0.2"), tcpFrom(t, h, "127.0.0.2")}
	if ok, errs := tally(two); ok != 2 || len(errs) != 1 {
		t.Fatalf("3 connections from another address with 2 slots left: %d answered, %v; want 2", ok, errs)
	}
	one[0].Close()
	waitFor(t, 5*time.Second, func() bool { return tcpFrom(t, h, "127.0.0.3").healthz() == nil }, "the slot of a closed connection")
}

// TestWSConnectionWithoutViewerIsClosed: a /ws connection that talks (bye after bye,
// answering pings) but holds no viewer is closed once it has held none for
// ws.idle_without_viewer; one that holds a viewer stays open past that, and is closed
// in turn once its viewer leaves.
func TestWSConnectionWithoutViewerIsClosed(t *testing.T) {
	const idle = time.Second
	h := viewersHost(t, func(c *server.Config) {
		c.PingInterval = 200 * time.Millisecond
		c.WS.IdleWithoutViewer = idle
		c.WebRTC.ConnectTimeout = 30 * time.Second // the holder's unconnected viewer stays
	})
	url := "ws" + strings.TrimPrefix(h.web, "http") + "/ws"
	open := func() *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	// reads delivers every message read (which also answers pings), then the error.
	reads := func(ws *websocket.Conn) chan error {
		ch := make(chan error, 64)
		go func() {
			for {
				var m signalproto.Message
				err := ws.ReadJSON(&m)
				ch <- err
				if err != nil {
					return
				}
			}
		}()
		return ch
	}
	closedWithin := func(ch chan error, d time.Duration) (time.Duration, error) {
		start := time.Now()
		timeout := time.After(d)
		for {
			select {
			case err := <-ch:
				if err != nil {
					return time.Since(start), err
				}
			case <-timeout:
				return d, nil
			}
		}
	}

	holder := open()
	holder.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: recvOffer(t)})
	var ans signalproto.Message
	holder.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := holder.ReadJSON(&ans); err != nil || ans.Type != signalproto.TypeAnswer {
		t.Fatalf("offer: %+v %v", ans, err)
	}
	holder.SetReadDeadline(time.Time{})
	holderReads := reads(holder)

	chatter := open()
	start := time.Now()
	go func() { // a bye every 100 ms: the first-message deadline counts it as speaking
		for chatter.WriteJSON(signalproto.Message{Type: signalproto.TypeBye, Viewer: "none"}) == nil {
			time.Sleep(100 * time.Millisecond) // the client's pace, not synchronisation
		}
	}()
	_, err := closedWithin(reads(chatter), 5*time.Second)
	if err == nil {
		t.Fatal("a connection holding no viewer, sending bye every 100 ms, was open after 5 s")
	}
	if took := time.Since(start); took < idle-100*time.Millisecond {
		t.Fatalf("closed after %v, before the %v deadline", took, idle)
	}
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("closed with %v, want close code 1008", err)
	}

	// The holder has lived past the deadline too; it still gets answers.
	holder.WriteJSON(signalproto.Message{Type: "dance"})
	select {
	case err := <-holderReads:
		if err != nil {
			t.Fatalf("the connection holding a viewer was closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer on the connection holding a viewer")
	}
	holder.WriteJSON(signalproto.Message{Type: signalproto.TypeBye, Viewer: ans.Viewer})
	if took, err := closedWithin(holderReads, 5*time.Second); err == nil {
		t.Fatal("the connection was open 5 s after its only viewer left")
	} else if took < idle-100*time.Millisecond {
		t.Fatalf("closed %v after its viewer left, before the %v deadline", took, idle)
	}
}
