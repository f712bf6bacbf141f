package whip

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePeer is a Peer built from what the test controls: its connection comes up when
// answered, and goes down when the test closes down.
type fakePeer struct {
	answer func(sdp string) error
	up     chan struct{}
	down   chan struct{}
	closed atomic.Bool
}

func (p *fakePeer) Offer(context.Context) (string, error) { return "v=0 offer", nil }
func (p *fakePeer) Answer(sdp string) error {
	if err := p.answer(sdp); err != nil {
		return err
	}
	close(p.up)
	return nil
}
func (p *fakePeer) Up() <-chan struct{}   { return p.up }
func (p *fakePeer) Down() <-chan struct{} { return p.down }
func (p *fakePeer) Close()                { p.closed.Store(true) }

// endpoint is a WHIP endpoint that answers every POST with a resource and counts
// POSTs and DELETEs.
type endpoint struct {
	posts, deletes atomic.Int32
	bodies         chan string
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "DELETE" {
		e.deletes.Add(1)
		return
	}
	b, _ := io.ReadAll(r.Body)
	e.posts.Add(1)
	select {
	case e.bodies <- string(b):
	default:
	}
	w.Header().Set("Location", "/whip/res")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, "v=0 answer")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling the publisher's status
	}
}

// TestPublisherRepublishesWhenThePeerGoesDown drives the HTTP side with peers that
// have no WebRTC stack at all: what Publish needs of the WebRTC side is the Peer
// interface only.
func TestPublisherRepublishesWhenThePeerGoesDown(t *testing.T) {
	ep := &endpoint{bodies: make(chan string, 8)}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	var mu sync.Mutex
	var peers []*fakePeer
	answers := make(chan string, 8)
	newPeer := func() (Peer, error) {
		p := &fakePeer{up: make(chan struct{}), down: make(chan struct{}),
			answer: func(sdp string) error { answers <- sdp; return nil }}
		mu.Lock()
		peers = append(peers, p)
		mu.Unlock()
		return p, nil
	}
	pub, err := Publish(Config{URL: srv.URL + "/whip", Allow: []string{"127.0.0.1"},
		Retry: Retry{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 3}}, newPeer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := <-ep.bodies; body != "v=0 offer" {
		t.Fatalf("POST body %q, want the peer's offer", body)
	}
	if a := <-answers; a != "v=0 answer" {
		t.Fatalf("peer answered with %q, want the endpoint's answer", a)
	}
	waitUntil(t, "connected", func() bool { return pub.Status().State == Connected })

	mu.Lock()
	first := peers[0]
	mu.Unlock()
	close(first.down) // the connection fails
	waitUntil(t, "a second POST", func() bool { return ep.posts.Load() == 2 })
	waitUntil(t, "connected again", func() bool { return pub.Status().State == Connected })
	if !first.closed.Load() {
		t.Error("the failed peer was not closed")
	}
	if ep.deletes.Load() != 1 {
		t.Errorf("%d DELETEs after the first publication ended, want 1", ep.deletes.Load())
	}
	pub.Stop()
	if st := pub.Status(); st.Connected || st.Attempts != 2 || st.Endpoint != srv.URL {
		t.Errorf("status after Stop: %+v", st)
	}
	if ep.deletes.Load() != 2 {
		t.Errorf("%d DELETEs after Stop, want 2", ep.deletes.Load())
	}
}
