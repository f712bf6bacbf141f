package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AdmissionConfig bounds the handshakes being worked on at once. Go's scheduler has no
// priorities: 200 WebRTC offers arriving together are 200 goroutines building
// PeerConnections (certificates, sockets, ICE agents) and allocating a few MiB each,
// and the goroutines that send established viewers their packets wait behind them —
// half a second, measured (TestFlood), which a browser shows as a freeze and as
// concealed audio. With a bound, a burst is worked off a few at a time.
type AdmissionConfig struct {
	// Handshakes caps WHEP offers (POST /whep/…) and WebSocket upgrades (/ws, /ingest)
	// in flight; defaults to 2 per CPU (GOMAXPROCS), at least 4. Negative: no cap.
	Handshakes int `yaml:"handshakes"`
	// Queue is how many more may wait for a slot, each for up to QueueWait; past either
	// the answer is 503 with Retry-After: 1. Defaults to 8×Handshakes and 2 s.
	Queue     int           `yaml:"queue"`
	QueueWait time.Duration `yaml:"queue_wait"`
	// ReclaimPeriod is how often to look for memory a burst left behind, to give it
	// back to the OS once the process is quiet (reclaim.go); defaults to 10 s.
	// Negative: never.
	ReclaimPeriod time.Duration `yaml:"reclaim_period"`
}

// maxHandshakeBody is read before a slot is taken (an SDP offer is well under it), so
// a client that trickles its body holds no slot; the rest, if any, follows unread.
const maxHandshakeBody = 64<<10 + 1

type admission struct {
	next    http.Handler
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	wait    time.Duration
}

// isolate puts srv's handler behind admission control and reclaims memory after
// bursts until srv shuts down.
func isolate(srv *http.Server, c AdmissionConfig) {
	srv.Handler = admit(srv.Handler, c)
	if c.ReclaimPeriod == 0 {
		c.ReclaimPeriod = 10 * time.Second
	}
	srv.RegisterOnShutdown(reclaimAfterBursts(c.ReclaimPeriod))
}

// admit wraps h with admission control (h itself when the cap is off).
func admit(h http.Handler, c AdmissionConfig) http.Handler {
	if c.Handshakes < 0 {
		return h
	}
	if c.Handshakes == 0 {
		c.Handshakes = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if c.Queue == 0 {
		c.Queue = 8 * c.Handshakes
	}
	if c.QueueWait <= 0 {
		c.QueueWait = 2 * time.Second
	}
	return &admission{next: h, slots: make(chan struct{}, c.Handshakes), queue: int64(max(c.Queue, 0)), wait: c.QueueWait}
}

func (a *admission) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upgrade := r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	offer := r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/whep/")
	if !upgrade && !offer {
		a.next.ServeHTTP(w, r)
		return
	}
	if offer {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHandshakeBody))
		if err != nil {
			http.Error(w, "reading the offer: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	}
	if !a.acquire(r) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy: too many handshakes in progress, retry", http.StatusServiceUnavailable)
		return
	}
	var once sync.Once
	release := func() { once.Do(func() { <-a.slots }) }
	defer release()
	if upgrade {
		// An upgraded connection lives on under the WebSocket caps; its slot is
		// for the handshake only.
		w = &releaseOnHijack{ResponseWriter: w, release: release}
	}
	a.next.ServeHTTP(w, r)
}

// acquire takes a slot, waiting in the queue if there is room in it.
func (a *admission) acquire(r *http.Request) bool {
	select {
	case a.slots <- struct{}{}:
		return true
	default:
	}
	if a.waiting.Add(1) > a.queue {
		a.waiting.Add(-1)
		return false
	}
	defer a.waiting.Add(-1)
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}

type readCloser struct {
	io.Reader
	io.Closer
}

// releaseOnHijack frees the handshake slot once the upgrade has taken the connection.
type releaseOnHijack struct {
	http.ResponseWriter
	release func()
}

func (w *releaseOnHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: the connection cannot be hijacked")
	}
	c, rw, err := h.Hijack()
	w.release()
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection's own writer.
func (w *releaseOnHijack) Unwrap() http.ResponseWriter { return w.ResponseWriter }
