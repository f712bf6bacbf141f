package rtcout

import (
	"context"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/whip"
)

// The WHIP publisher (internal/whip) holds the HTTP side of a publication; this is
// its WebRTC side: a send-only Pion peer fed from the stream like a viewer, with the
// viewer's RTCP handling (PLI → key frame, Sender Reports), but no viewer slot.

// The publisher's ICE timing is its own (viewers keep theirs: api.go). A viewer that
// vanishes only has to be freed in time; a publisher whose SFU vanished (killed, or
// the path to it cut) is a stream missing everywhere until it publishes anew, so it
// checks consent (RFC 7675) every publishKeepalive and reports the connection
// disconnected (whip.PeerSilent) after publishDisconnected without a packet from the
// endpoint (consent answers, RTCP; MediaMTX sends a PLI every 2 s and receiver
// reports). The whip publisher gives that whip.Config.Silence before it starts anew.
// Pion's own failure comes publishFailed later; the sum also bounds ICE checking
// (Pion fails a connection still checking after disconnected + failed), 10 s as for
// viewers (Options.ConnectTimeout), enough for a path through TURN.
const (
	publishKeepalive    = 500 * time.Millisecond
	publishDisconnected = time.Second
	publishFailed       = 9 * time.Second
)

func publishTimeouts(se *webrtc.SettingEngine) {
	se.SetICETimeouts(publishDisconnected, publishFailed, publishKeepalive)
}

// publishPeer is one publication attempt's peer (whip.Peer).
type publishPeer struct {
	v      *viewer
	vt, at *webrtc.TrackLocalStaticRTP
	link   whip.PeerLink
}

// NewPublishPeer makes the peer of one WHIP publication attempt of the session.
func (o *Output) NewPublishPeer() (whip.Peer, error) {
	// An API of its own for the publisher's ICE timing; it is made per attempt (one
	// every few seconds at most) and shares the host's ICE port (Options.Mux).
	api, err := newAPI(o.cfg.Options, publishTimeouts)
	if err != nil {
		return nil, err
	}
	// A fresh TURN credential each attempt: the last one may have expired.
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: o.cfg.ICEServersFor(time.Now())})
	if err != nil {
		return nil, err
	}
	p := &publishPeer{v: &viewer{id: "whip", o: o, done: make(chan struct{}), joined: time.Now(), pc: pc}}
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
			p.link.Set(whip.PeerUp)
			o.st.RequestKeyFrame("") // the endpoint's first picture now, not at the next GOP
		case webrtc.PeerConnectionStateDisconnected:
			p.link.Set(whip.PeerSilent)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.link.Set(whip.PeerDown)
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

func (p *publishPeer) State() (whip.PeerState, <-chan struct{}) { return p.link.Watch() }

// Close ends the peer: its reader, its PeerConnection and its goroutines.
func (p *publishPeer) Close() { p.v.close() }
