// Package loadtest is `avhost loadtest`: a load client for avhost's WebSocket
// endpoints. Churn mode opens, exchanges one message and closes connections as fast
// as it can; idle mode holds many connections open with heartbeats. It reports rate,
// handshake latency percentiles, failures by errno, RSS per connection and TIME_WAIT
// counts on both sides. It only ever targets the URL it is given (loopback in tests).
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/doctor"
	"github.com/avhost/avhost/internal/procstat"
)

// Config configures a run.
type Config struct {
	URL   string // ws://host:port/path
	Token string // bearer token, if the endpoint wants one
	// Workers for churn (default 8); Conns to hold for idle (default 1000).
	Workers, Conns int
	Duration       time.Duration // churn length / idle hold time; default 10 s
	// Sources are local IPs to spread connections over (one loopback source has
	// only ~28k ephemeral ports); default: the kernel's choice.
	Sources []string
	// ServerPID, if set, is read for the server's RSS per connection.
	ServerPID int
	// ServerCloses: the server ends each churn cycle (a bare echo server does); by
	// default the client starts the close handshake, as avhost's clients do.
	ServerCloses bool
}

// Result is what a run measured.
type Result struct {
	Mode           string
	Cycles         int64
	Rate           float64 // cycles per second
	P50, P95, P99  time.Duration
	Failures       map[string]int64
	Held           int
	ServerRSSPerKB float64
	ClientRSSPerKB float64
	TimeWaitServer int
	TimeWaitClient int
}

func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d cycles/conns, %.0f/s, handshake p50 %v p95 %v p99 %v", r.Mode, max(r.Cycles, int64(r.Held)), r.Rate,
		r.P50.Round(time.Microsecond), r.P95.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	fmt.Fprintf(&b, ", failures %v, TIME_WAIT server %d client %d", r.Failures, r.TimeWaitServer, r.TimeWaitClient)
	if r.Held > 0 {
		fmt.Fprintf(&b, ", RSS/conn server %.1f KiB client %.1f KiB", r.ServerRSSPerKB, r.ClientRSSPerKB)
	}
	return b.String()
}

func (c *Config) dialer(i int) *websocket.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if len(c.Sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.Sources[i%len(c.Sources)])}
	}
	return &websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 5 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024}
}

func (c *Config) header() http.Header {
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	return h
}

// errno names a dial failure by its errno (EADDRNOTAVAIL, ECONNREFUSED, …).
func errno(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return errnoName(en)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case syscall.ECONNREFUSED:
		return "ECONNREFUSED"
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	}
	return "errno " + strconv.Itoa(int(e))
}

// Churn runs connect → one message → close cycles from Workers goroutines.
func Churn(ctx context.Context, c Config) Result {
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var cycles atomic.Int64
	var mu sync.Mutex
	fails := map[string]int64{}
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			d := c.dialer(w)
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				ws, _, err := d.DialContext(ctx, c.URL, c.header())
				if err != nil {
					// A dial cut by the end of the run is not a failure (the socket's
					// deadline can fire just before ctx reports it).
					if dl, _ := ctx.Deadline(); time.Until(dl) > 10*time.Millisecond {
						mu.Lock()
						fails[errno(err)]++
						mu.Unlock()
					}
					continue
				}
				mine = append(mine, time.Since(t0))
				if err := cycle(ws, c.ServerCloses); err != nil && ctx.Err() == nil && errno(err) != "timeout" {
					mu.Lock()
					fails["cycle: "+errno(err)]++
					mu.Unlock()
				} else {
					cycles.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	r := Result{Mode: "churn", Cycles: cycles.Load(), Rate: float64(cycles.Load()) / el.Seconds(), Failures: fails}
	r.P50, r.P95, r.P99 = percentiles(lat)
	r.TimeWaitServer, r.TimeWaitClient = timeWait(c.URL)
	return r
}

// cycle exchanges one message and closes. Client-initiated: send a close frame, wait
// for the server's, then close TCP (RFC 6455 §7.1.1), so TIME_WAIT stays client side.
func cycle(ws *websocket.Conn, serverCloses bool) error {
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if serverCloses {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			return err
		}
		if _, _, err := ws.ReadMessage(); err != nil { // the echo
			return err
		}
		for { // until the server closes
			if _, _, err := ws.ReadMessage(); err != nil {
				return nil
			}
		}
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the server's first message (welcome)
		return err
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
		return err
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return nil // the server's close frame (or its TCP close) ends it
		}
	}
}

// Idle opens Conns connections, answers the server's pings on each, holds them for
// Duration and reports RSS per connection.
func Idle(ctx context.Context, c Config) Result {
	if c.Conns == 0 {
		c.Conns = 1000
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	srss0, crss0 := procstat.RSSKB(c.ServerPID), procstat.RSSKB(0)
	fails := map[string]int64{}
	var lat []time.Duration
	var conns []*websocket.Conn
	var wg sync.WaitGroup
	for i := 0; i < c.Conns && ctx.Err() == nil; i++ {
		t0 := time.Now()
		ws, _, err := c.dialer(i).DialContext(ctx, c.URL, c.header())
		if err != nil {
			fails[errno(err)]++
			continue
		}
		lat = append(lat, time.Since(t0))
		conns = append(conns, ws)
		wg.Add(1)
		go func() { // reads (and so answers pings) until the connection closes
			defer wg.Done()
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	select {
	case <-time.After(c.Duration):
	case <-ctx.Done():
	}
	r := Result{Mode: "idle", Held: len(conns), Failures: fails}
	if len(conns) > 0 {
		if c.ServerPID > 0 {
			r.ServerRSSPerKB = float64(procstat.RSSKB(c.ServerPID)-srss0) / float64(len(conns))
		}
		r.ClientRSSPerKB = float64(procstat.RSSKB(0)-crss0) / float64(len(conns))
	}
	r.P50, r.P95, r.P99 = percentiles(lat)
	for _, ws := range conns {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	wg.Wait()
	for _, ws := range conns {
		ws.Close()
	}
	r.TimeWaitServer, r.TimeWaitClient = timeWait(c.URL)
	return r
}

func percentiles(d []time.Duration) (p50, p95, p99 time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return at(0.5), at(0.95), at(0.99)
}

func timeWait(raw string) (server, client int) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	port, _ := strconv.Atoi(u.Port())
	c, err := doctor.CountSockets("", port)
	if err != nil {
		return
	}
	return c.Local["TIME_WAIT"], c.Remote["TIME_WAIT"]
}
