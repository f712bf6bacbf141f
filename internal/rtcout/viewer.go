package rtcout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/viewers"
)

// Lock order: Output.mu, then viewer.mu, then viewers.Slots' lock. No lock is held
// while Pion works (offer, gathering, close).

// viewer is one browser (or any WebRTC receiver) watching the session. It enters
// Output.viewers before its PeerConnection exists (the slot is reserved), so the cap
// counts handshakes in flight as well as connected viewers.
type viewer struct {
	id     string
	owner  string // the credential that created it (WHEP DELETE needs it)
	o      *Output
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	joined time.Time
	slot   *viewers.Slot // its hold on the host's caps (nil for a WHIP publication)

	connected atomic.Bool
	gone      atomic.Bool // its NACK and key frame request counts are in the Output's totals
	reap      *time.Timer // frees a viewer that never connects

	mu      sync.Mutex
	closed  bool
	pc      *webrtc.PeerConnection // nil while the handshake is being set up
	video   *webrtc.RTPSender
	audio   *webrtc.RTPSender
	feed    *stream.Reader // its subscription to the session's stream
	speech  *speechChannel // its data channel for speech events, if it opened one (speech.go)
	refused int            // channels it opened that were closed (speech.go)
	// net is its congestion control, nil when the stream has one rendition or the
	// viewer sends no transport-wide CC feedback. Set before its goroutines start.
	net *adapter
	est cc.BandwidthEstimator // the viewer's GCC estimator (nil for a WHIP publication)
	// gate budgets its NACK answers (nil for a WHIP publication); set before its
	// PeerConnection exists.
	gate *nackGate
	// watch reads its transport-wide CC feedback for the queue a probe fills
	// (queuewatch.go); set with gate.
	watch *queueWatch
	// vcap and acap stamp abs-capture-time on its video and audio packets with the
	// ids its answer negotiated (capture.go); set before its feed starts.
	vcap, acap captureStamp
	// link is what its RTCP says of its path: RTT, loss, key frame requests.
	link linkStats
}

// AddViewer answers an SDP offer with the session's two tracks. The answer carries
// all candidates (gathering is complete), so WHEP clients need no trickle. c.Owner is
// the credential the viewer was created with ("" for none); Owner returns it.
//
// The per-session cap (Config.MaxViewers) and the host's (Options.Host: in all,
// anonymous, unconnected per address) are checked and the slot taken under one lock,
// before any work: N+k concurrent offers against a cap of N get exactly N answers.
func (o *Output) AddViewer(ctx context.Context, offer string, c viewers.Client) (id, answer string, err error) {
	v := &viewer{id: auth.RandomID(16), owner: c.Owner, o: o, done: make(chan struct{}), joined: time.Now()}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return "", "", viewers.ErrClosed
	}
	if len(o.viewers) >= o.cfg.MaxViewers {
		o.mu.Unlock()
		return "", "", viewers.ErrTooManyViewers
	}
	slot, err := o.cfg.Host.Take(c)
	if err != nil {
		o.mu.Unlock()
		return "", "", err
	}
	v.slot = slot
	o.viewers[v.id] = v
	o.mu.Unlock()

	ans, err := v.handshake(ctx, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer})
	if err != nil {
		o.RemoveViewer(v.id)
		v.close() // also when Close already took it out of the map
		return "", "", err
	}
	return v.id, ans.SDP, nil
}

// handshake builds the viewer's PeerConnection and answers offer.
func (v *viewer) handshake(ctx context.Context, offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	o := v.o
	var est estimators
	v.gate, v.watch = &nackGate{}, &queueWatch{}
	api, err := o.base.api(func(e cc.BandwidthEstimator) {
		est.set(e)
		v.gate.setEstimate(e.GetTargetBitrate)
	}, v.gate, v.watch, &remoteStreams{over: func() {
		o.cfg.Log.Warn("viewer dropped: its packets named too many SSRCs", "viewer", v.id, "max", maxRemoteStreams)
		o.RemoveViewer(v.id)
	}})
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: o.cfg.ICEServers})
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	v.mu.Lock()
	if v.closed { // the output closed meanwhile
		v.mu.Unlock()
		pc.Close()
		return webrtc.SessionDescription{}, viewers.ErrClosed
	}
	v.pc = pc // from here, close() closes it
	v.mu.Unlock()
	vt, at, err := newTracks()
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	if offersRED(offer.SDP) { // red.go: its audio goes as RED, each frame twice
		if at, err = webrtc.NewTrackLocalStaticRTP(redCap, "audio", "avhost"); err != nil {
			return webrtc.SessionDescription{}, err
		}
	}
	video, err := pc.AddTrack(vt)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	audio, err := pc.AddTrack(at)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	pc.OnDataChannel(v.onDataChannel)
	if err := pc.SetRemoteDescription(offer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", viewers.ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", viewers.ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", viewers.ErrBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return webrtc.SessionDescription{}, ctx.Err()
	case <-v.done:
		return webrtc.SessionDescription{}, viewers.ErrClosed
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.connected.Store(true)
			v.slot.Connected()       // no longer pending: the address may offer again
			o.st.RequestKeyFrame("") // a picture for the newcomer now, not at the next GOP
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go o.RemoveViewer(v.id) // not on Pion's callback goroutine
		}
	})
	v.mu.Lock()
	v.est = est.get()
	v.mu.Unlock()
	if err := v.start(video, audio, vt, at); err != nil {
		return webrtc.SessionDescription{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed { // close ran before the reap timer was set: nothing would stop it
		return webrtc.SessionDescription{}, viewers.ErrClosed
	}
	// Pion fails a connection stuck in ICE checking only after disconnected+failed
	// timeouts, and one whose ICE succeeds but whose DTLS never starts only at DTLS's
	// own 30 s: one deadline covers both.
	v.reap = time.AfterFunc(o.cfg.connectTimeout(), func() {
		if !v.connected.Load() {
			// Which layer stopped it (ICE never checked, checked and failed, or DTLS)
			// is all there is to go on: its page only sees 0 frames. One line per
			// offer that never connected, bounded by the pending-viewer caps.
			o.cfg.Log.Info("viewer never connected", "viewer", v.id, "after", o.cfg.connectTimeout(),
				"ice", pc.ICEConnectionState().String(), "connection", pc.ConnectionState().String())
			o.RemoveViewer(v.id)
		}
	})
	return *pc.LocalDescription(), nil
}

// newTracks makes a viewer's (or a publication's) two tracks. Each peer has tracks
// of its own, fed by its stream reader, rather than binding shared ones: Pion 4.1's
// TrackLocalStaticRTP.Unbind left a departed binding in the slice's spare capacity,
// and with it the viewer's interceptor chain and NACK buffer, until a later Bind
// overwrote it (after a flood of N viewers, up to N stayed in the heap). A track of
// its own dies with the viewer.
func newTracks() (video, audio *webrtc.TrackLocalStaticRTP, err error) {
	if video, err = webrtc.NewTrackLocalStaticRTP(videoCap, "video", "avhost"); err != nil {
		return nil, nil, err
	}
	if audio, err = webrtc.NewTrackLocalStaticRTP(audioCap, "audio", "avhost"); err != nil {
		return nil, nil, err
	}
	return video, audio, nil
}

// start feeds the viewer's tracks from the stream (a reader of its own, so a viewer
// that cannot keep up drops rather than holds the others up) and starts its RTCP
// goroutines. ErrClosed if the viewer closed meanwhile.
func (v *viewer) start(video, audio *webrtc.RTPSender, vt, at *webrtc.TrackLocalStaticRTP) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return viewers.ErrClosed
	}
	v.video, v.audio = video, audio
	var red *redWriter
	if at.Codec().MimeType == redMime {
		red = &redWriter{}
	}
	if rungs := ladderOf(v.o.st); rungs != nil && v.est != nil && negotiatedTWCC(video) {
		if red != nil { // each rung needs the second copy of the audio too
			for i := range rungs {
				rungs[i].bps += redBudget
			}
		}
		v.net = &adapter{est: v.est, twcc: true, rungs: rungs}
	}
	// WriteRTP copies the packet before setting this viewer's SSRC and payload type,
	// as a stream.Unit's packets are shared and must not be changed.
	v.vcap, v.acap = negotiatedCapture(video), negotiatedCapture(audio)
	vw := newVideoWriter(vt, v)
	feed, err := v.o.st.Subscribe("", 0, func(u *stream.Unit) {
		if u.Video {
			vw.write(u)
			return
		}
		if red != nil {
			w := *u // the unit is shared: its packets are wrapped in a copy
			w.Packets = make([]*rtp.Packet, len(u.Packets))
			for i, p := range u.Packets {
				w.Packets[i] = red.wrap(p)
			}
			u = &w
		}
		v.acap.writeAudio(at, u)
	})
	if err != nil {
		return viewers.ErrClosed
	}
	v.feed = feed
	if v.gate != nil {
		v.gate.setLost(feed.RequestKeyFrame)
	}
	v.wg.Add(3)
	go v.readRTCP(video)
	go v.readRTCP(audio)
	go v.senderReports()
	if v.net != nil {
		v.wg.Add(1)
		go v.runAdapt()
	}
	return nil
}

// Owner returns the credential viewer id was created with.
func (o *Output) Owner(id string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.viewers[id]
	if v == nil {
		return "", false
	}
	return v.owner, true
}

// AddICECandidate adds a trickled remote candidate for viewer id.
func (o *Output) AddICECandidate(id string, c viewers.Candidate) error {
	o.mu.Lock()
	v := o.viewers[id]
	o.mu.Unlock()
	if v == nil {
		return viewers.ErrNoViewer
	}
	v.mu.Lock()
	pc := v.pc
	v.mu.Unlock()
	if pc == nil {
		return viewers.ErrNoViewer
	}
	return pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
}

// RemoveViewer disconnects viewer id and frees it.
func (o *Output) RemoveViewer(id string) error {
	o.mu.Lock()
	v := o.viewers[id]
	delete(o.viewers, id)
	o.mu.Unlock()
	if v == nil {
		return viewers.ErrNoViewer
	}
	v.close()
	return nil
}

// close frees everything the viewer holds: its host slot, the reap timer, its
// stream reader, its PeerConnection (with its tracks and NACK buffers) and its
// goroutines. It runs once, from RemoveViewer, a failed AddViewer, Output.Close or
// the end of a WHIP publication attempt.
func (v *viewer) close() {
	v.once.Do(func() {
		v.slot.Release()
		v.mu.Lock()
		v.closed = true
		pc, reap, feed := v.pc, v.reap, v.feed
		v.mu.Unlock()
		close(v.done)
		if reap != nil {
			reap.Stop()
		}
		if feed != nil {
			feed.Close()
		}
		if pc != nil {
			pc.Close() // ends the RTCP readers
		}
		v.wg.Wait()
		v.logNet()
	})
}

// readRTCP turns PLI/FIR into a key frame request, receiver reports into the
// viewer's link figures (linkstats.go), and the audio track's into the stream's Opus
// FEC setting (stream.Reader.ReportAudioLoss); it ends when the PC closes.
func (v *viewer) readRTCP(s *webrtc.RTPSender) {
	defer v.wg.Done()
	video := s == v.video
	var ssrc uint32 // the track's, once known
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				v.link.keyframeRq.Add(1)
				v.feed.RequestKeyFrame()
			case *rtcp.ReceiverReport:
				if ssrc == 0 {
					if enc := s.GetParameters().Encodings; len(enc) > 0 {
						ssrc = uint32(enc[0].SSRC)
					}
				}
				// A compound packet reaches every track it reports on: only the
				// track's own block counts (not the other track's, nor RTX's).
				for _, b := range p.Reports {
					if b.SSRC != ssrc || ssrc == 0 {
						continue
					}
					v.link.received(b, video, time.Now())
					if !video {
						v.feed.ReportAudioLoss(float64(b.FractionLost) / 256)
					}
				}
			}
		}
	}
}

// senderReports sends an SR per track every second. NTP and RTP time are both taken
// at the same running time of the pipeline clock, so the browser maps audio and video
// onto one timeline whatever each encoder's delay (RFC 3550 §6.4.1).
func (v *viewer) senderReports() {
	defer v.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-t.C:
		}
		if !v.connected.Load() {
			continue // nothing to report to a peer still handshaking
		}
		var pkts []rtcp.Packet
		for _, x := range []struct {
			s     *webrtc.RTPSender
			video bool
		}{{v.video, true}, {v.audio, false}} {
			enc := x.s.GetParameters().Encodings
			r, ok := v.feed.Report(x.video)
			if len(enc) == 0 || !ok {
				continue
			}
			pkts = append(pkts, &rtcp.SenderReport{SSRC: uint32(enc[0].SSRC), NTPTime: r.NTP,
				RTPTime: r.RTPTime, PacketCount: r.Packets, OctetCount: r.Octets})
		}
		if len(pkts) > 0 {
			now := time.Now()
			for _, p := range pkts {
				v.link.sentSR(p.(*rtcp.SenderReport).NTPTime, now)
			}
			v.pc.WriteRTCP(pkts)
		}
	}
}
