package whip

import (
	"context"
	"sync"
)

// Peer is the WebRTC side of one publication attempt: a send-only peer connection
// fed from the session's stream. The publisher holds the HTTP side (RFC 9725 §4.2)
// and never sees the WebRTC stack: internal/rtcout makes peers with Pion.
type Peer interface {
	// Offer returns the peer's SDP offer once ICE gathering is complete (WHIP
	// endpoints need not support trickle), or ctx's error.
	Offer(ctx context.Context) (string, error)
	// Answer applies the endpoint's SDP answer; media flows once the connection is up.
	Answer(sdp string) error
	// State returns the connection's state now and a channel closed when it next
	// changes (a PeerLink's Watch).
	State() (PeerState, <-chan struct{})
	// Close tears the peer down and waits for its goroutines.
	Close()
}

// PeerState is where a publication's connection is, as the publisher needs it.
type PeerState int

const (
	// PeerConnecting: ICE and DTLS are not up yet.
	PeerConnecting PeerState = iota
	// PeerUp: connected, media flows.
	PeerUp
	// PeerSilent: it was up, but nothing has come from the endpoint for a while: no
	// answer to consent checks (RFC 7675), no RTCP (ICE "disconnected"). It may come
	// back; the publisher gives it Config.Silence before it starts anew.
	PeerSilent
	// PeerDown: failed or closed, for good.
	PeerDown
)

// PeerLink holds a peer's state for its Peer.State: the WebRTC stack's callbacks Set
// it, the publisher Watches it. Set never blocks, so a callback of the stack may call
// it. The zero value is PeerConnecting.
type PeerLink struct {
	mu      sync.Mutex
	state   PeerState
	changed chan struct{}
}

// Set moves the link to s and wakes its watchers; PeerDown is final.
func (l *PeerLink) Set(s PeerState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == s || l.state == PeerDown {
		return
	}
	l.state = s
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// Watch returns the state now and a channel closed at its next change.
func (l *PeerLink) Watch() (PeerState, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.state, l.changed
}
