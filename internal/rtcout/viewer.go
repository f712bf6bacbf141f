package rtcout

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/auth"
)

// Lock order: Output.mu, then viewer.mu, then Slots.mu. No lock is held while Pion
// works (offer, gathering, close).

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
	slot   *Slot // its hold on the host's caps

	connected atomic.Bool
	reap      *time.Timer // frees a viewer that never connects

	mu     sync.Mutex
	closed bool
	pc     *webrtc.PeerConnection // nil while the handshake is being set up
	video  *webrtc.RTPSender
	audio  *webrtc.RTPSender
	unsub  func() // ends the viewer's feed from the pump
}

// AddViewer answers an SDP offer with the session's two tracks. The answer carries
// all candidates (gathering is complete), so WHEP clients need no trickle. c.Owner is
// the credential the viewer was created with ("" for none); Owner returns it.
//
// The per-session cap (Config.MaxViewers) and the host's (Options.Host: in all,
// anonymous, unconnected per address) are checked and the slot taken under one lock,
// before any work: N+k concurrent offers against a cap of N get exactly N answers.
func (o *Output) AddViewer(ctx context.Context, offer webrtc.SessionDescription, c Client) (string, webrtc.SessionDescription, error) {
	v := &viewer{id: auth.RandomID(16), owner: c.Owner, o: o, done: make(chan struct{}), joined: time.Now()}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return "", webrtc.SessionDescription{}, ErrClosed
	}
	if len(o.viewers) >= o.cfg.MaxViewers {
		o.mu.Unlock()
		return "", webrtc.SessionDescription{}, ErrTooManyViewers
	}
	slot, err := o.cfg.Host.Take(c)
	if err != nil {
		o.mu.Unlock()
		return "", webrtc.SessionDescription{}, err
	}
	v.slot = slot
	o.viewers[v.id] = v
	o.mu.Unlock()

	answer, err := v.handshake(ctx, offer)
	if err != nil {
		o.RemoveViewer(v.id)
		v.close() // also when Close already took it out of the map
		return "", webrtc.SessionDescription{}, err
	}
	return v.id, answer, nil
}

// handshake builds the viewer's PeerConnection and answers offer.
func (v *viewer) handshake(ctx context.Context, offer webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	o := v.o
	pc, err := o.api.NewPeerConnection(webrtc.Configuration{ICEServers: o.cfg.ICEServers})
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	v.mu.Lock()
	if v.closed { // the output closed meanwhile
		v.mu.Unlock()
		pc.Close()
		return webrtc.SessionDescription{}, ErrClosed
	}
	v.pc = pc // from here, close() closes it
	v.mu.Unlock()
	// Each viewer has tracks of its own, fed from the pump by Subscribe, rather than
	// binding the output's shared tracks: Pion 4.1's TrackLocalStaticRTP.Unbind leaves
	// a departed binding in the slice's spare capacity, and with it the viewer's
	// interceptor chain and NACK buffer, until a later Bind overwrites it (after a flood
	// of N viewers, up to N stayed in the heap). A track of its own dies with the viewer.
	vt, err := webrtc.NewTrackLocalStaticRTP(videoCap, "video", "avhost")
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	at, err := webrtc.NewTrackLocalStaticRTP(audioCap, "audio", "avhost")
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	video, err := pc.AddTrack(vt)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	audio, err := pc.AddTrack(at)
	if err != nil {
		return webrtc.SessionDescription{}, err
	}
	if err := pc.SetRemoteDescription(offer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return webrtc.SessionDescription{}, ctx.Err()
	case <-v.done:
		return webrtc.SessionDescription{}, ErrClosed
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.connected.Store(true)
			v.slot.Connected()  // no longer pending: the address may offer again
			o.RequestKeyFrame() // a picture for the newcomer now, not at the next GOP
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go o.RemoveViewer(v.id) // not on Pion's callback goroutine
		}
	})
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return webrtc.SessionDescription{}, ErrClosed
	}
	v.video, v.audio = video, audio
	// WriteRTP copies the packet before setting this viewer's SSRC and payload type,
	// as Media's packets must not be changed.
	v.unsub = o.Subscribe(func(m Media) {
		t := at
		if m.Video {
			t = vt
		}
		for _, p := range m.Packets {
			t.WriteRTP(p)
		}
	})
	// Pion fails a connection stuck in ICE checking only after disconnected+failed
	// timeouts, and one whose ICE succeeds but whose DTLS never starts only at DTLS's
	// own 30 s: one deadline covers both.
	v.reap = time.AfterFunc(o.cfg.connectTimeout(), func() {
		if !v.connected.Load() {
			o.RemoveViewer(v.id)
		}
	})
	v.wg.Add(3)
	go v.readRTCP(video)
	go v.readRTCP(audio)
	go v.senderReports()
	return *pc.LocalDescription(), nil
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
func (o *Output) AddICECandidate(id string, c webrtc.ICECandidateInit) error {
	o.mu.Lock()
	v := o.viewers[id]
	o.mu.Unlock()
	if v == nil {
		return ErrNoViewer
	}
	v.mu.Lock()
	pc := v.pc
	v.mu.Unlock()
	if pc == nil {
		return ErrNoViewer
	}
	return pc.AddICECandidate(c)
}

// RemoveViewer disconnects viewer id and frees it.
func (o *Output) RemoveViewer(id string) error {
	o.mu.Lock()
	v := o.viewers[id]
	delete(o.viewers, id)
	o.mu.Unlock()
	if v == nil {
		return ErrNoViewer
	}
	v.close()
	return nil
}

// close frees everything the viewer holds: its host slot, the reap timer, its
// subscription, its PeerConnection (with its tracks and NACK buffers) and its
// goroutines.
// It runs once, from RemoveViewer, a failed AddViewer or Output.Close.
func (v *viewer) close() {
	v.once.Do(func() {
		v.slot.Release()
		v.mu.Lock()
		v.closed = true
		pc, reap, unsub := v.pc, v.reap, v.unsub
		v.mu.Unlock()
		close(v.done)
		if reap != nil {
			reap.Stop()
		}
		if unsub != nil {
			unsub()
		}
		if pc != nil {
			pc.Close() // ends the RTCP readers
		}
		v.wg.Wait()
	})
}

// readRTCP turns PLI/FIR into a key frame request; it ends when the PC closes.
func (v *viewer) readRTCP(s *webrtc.RTPSender) {
	defer v.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				v.o.RequestKeyFrame()
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
		rt, ok := v.o.clock.RunningTime()
		if !ok {
			continue
		}
		ntp := v.o.ntpAt(rt)
		var pkts []rtcp.Packet
		for _, x := range []struct {
			s  *webrtc.RTPSender
			st *stream
		}{{v.video, v.o.video}, {v.audio, v.o.audio}} {
			enc := x.s.GetParameters().Encodings
			if len(enc) == 0 || !x.st.hasFirst.Load() {
				continue
			}
			pkts = append(pkts, &rtcp.SenderReport{SSRC: uint32(enc[0].SSRC), NTPTime: ntp,
				RTPTime: x.st.rtpTime(rt), PacketCount: x.st.packets.Load(), OctetCount: x.st.octets.Load()})
		}
		if len(pkts) > 0 {
			v.pc.WriteRTCP(pkts)
		}
	}
}
