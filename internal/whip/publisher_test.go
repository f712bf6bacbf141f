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
// answered, and then goes where the test sets its link.
type fakePeer struct {
	answer  func(sdp string) error
	link    PeerLink
	watches atomic.Int32 // State calls: the publisher has seen the state set before the last one
	closed  atomic.Bool
}

func (p *fakePeer) Offer(context.Context) (string, error) { return "v=0 offer", nil }
func (p *fakePeer) Answer(sdp string) error {
	if err := p.answer(sdp); err != nil {
		return err
	}
	p.link.Set(PeerUp)
	return nil
}
func (p *fakePeer) State() (PeerState, <-chan struct{}) {
	p.watches.Add(1)
	return p.link.Watch()
}
func (p *fakePeer) Close() { p.closed.Store(true) }

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
		p := &fakePeer{answer: func(sdp string) error { answers <- sdp; return nil }}
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
	first.link.Set(PeerDown) // the connection fails
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

// TestPublisherLeavesASilentConnection: an SFU that is killed says nothing, and its
// peer connection goes silent (ICE disconnected) and stays so; it fails only at ICE's
// failure timeout. The publisher starts anew once the silence outlasts Config.Silence,
// and rides out a shorter one.
func TestPublisherLeavesASilentConnection(t *testing.T) {
	const silence = 100 * time.Millisecond
	start := func(t *testing.T) (*endpoint, *Publisher, func() *fakePeer) {
		ep := &endpoint{bodies: make(chan string, 8)}
		srv := httptest.NewServer(ep)
		t.Cleanup(srv.Close)
		peers := make(chan *fakePeer, 8)
		newPeer := func() (Peer, error) {
			p := &fakePeer{answer: func(string) error { return nil }}
			peers <- p
			return p, nil
		}
		pub, err := Publish(Config{URL: srv.URL + "/whip", Allow: []string{"127.0.0.1"}, Silence: silence,
			Retry: Retry{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 3}}, newPeer, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pub.Stop)
		waitUntil(t, "connected", func() bool { return pub.Status().State == Connected })
		return ep, pub, func() *fakePeer { return <-peers }
	}

	t.Run("a connection silent past Config.Silence is published anew, though it never failed", func(t *testing.T) {
		ep, pub, next := start(t)
		first := next()
		silent := time.Now()
		first.link.Set(PeerSilent) // and never PeerDown
		waitUntil(t, "a second POST", func() bool { return ep.posts.Load() == 2 })
		if d := time.Since(silent); d < silence {
			t.Errorf("published anew %v after the silence began, before Config.Silence (%v)", d, silence)
		}
		waitUntil(t, "connected again", func() bool { return pub.Status().State == Connected })
		if !first.closed.Load() {
			t.Error("the silent peer was not closed")
		}
		waitUntil(t, "the silent publication's DELETE", func() bool { return ep.deletes.Load() == 1 })
	})

	t.Run("a connection that answers again within Config.Silence is kept", func(t *testing.T) {
		ep, pub, next := start(t)
		first := next()
		w := first.watches.Load()
		first.link.Set(PeerSilent)
		waitUntil(t, "the publisher to see the silence", func() bool { return first.watches.Load() > w })
		first.link.Set(PeerUp)
		// Absence is what is tested: nothing may happen for a few times Config.Silence.
		time.Sleep(3 * silence)
		if n := ep.posts.Load(); n != 1 || first.closed.Load() || pub.Status().State != Connected {
			t.Errorf("after a short silence: %d POSTs, peer closed %v, status %+v; want the first publication kept",
				n, first.closed.Load(), pub.Status())
		}
	})
}
