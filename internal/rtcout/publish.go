package rtcout

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/whip"
)

// The WHIP publisher (internal/whip) holds the HTTP side of a publication; this is
// its WebRTC side: a send-only Pion peer fed from the stream like a viewer, with the
// viewer's RTCP handling (PLI → key frame, Sender Reports), but no viewer slot.

// publishPeer is one publication attempt's peer (whip.Peer).
type publishPeer struct {
	v      *viewer
	vt, at *webrtc.TrackLocalStaticRTP
	up     chan struct{}
	down   chan struct{}
	upOnce sync.Once
	dnOnce sync.Once
}

// NewPublishPeer makes the peer of one WHIP publication attempt of the session.
func (o *Output) NewPublishPeer() (whip.Peer, error) {
	// A fresh TURN credential each attempt: the last one may have expired.
	pc, err := o.api.NewPeerConnection(webrtc.Configuration{ICEServers: o.cfg.ICEServersFor(time.Now())})
	if err != nil {
		return nil, err
	}
	p := &publishPeer{v: &viewer{id: "whip", o: o, done: make(chan struct{}), joined: time.Now(), pc: pc},
		up: make(chan struct{}), down: make(chan struct{})}
	if p.vt, p.at, err = newTracks(); err != nil {
		pc.Close()
		return nil, err
	}
	for _, t := range []*webrtc.TrackLocalStaticRTP{p.vt, p.at} {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			pc.Close()
			return nil, err
		}
		if t == p.vt {
			p.v.video = tr.Sender()
		} else {
			p.v.audio = tr.Sender()
		}
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.v.connected.Store(true)
			p.upOnce.Do(func() { close(p.up) })
			o.st.RequestKeyFrame("") // the endpoint's first picture now, not at the next GOP
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.dnOnce.Do(func() { close(p.down) })
		}
	})
	return p, nil
}

// Offer makes the offer and waits for ICE gathering to complete.
func (p *publishPeer) Offer(ctx context.Context) (string, error) {
	pc := p.v.pc
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
		return pc.LocalDescription().SDP, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Answer applies the endpoint's answer and starts the feed from the stream.
func (p *publishPeer) Answer(sdp string) error {
	if err := p.v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return err
	}
	return p.v.start(p.v.video, p.v.audio, p.vt, p.at)
}

func (p *publishPeer) Up() <-chan struct{}   { return p.up }
func (p *publishPeer) Down() <-chan struct{} { return p.down }

// Close ends the peer: its reader, its PeerConnection and its goroutines.
func (p *publishPeer) Close() { p.v.close() }
