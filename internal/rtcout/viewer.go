package rtcout

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// viewer is one browser (or any WebRTC receiver) watching the session.
type viewer struct {
	id     string
	o      *Output
	pc     *webrtc.PeerConnection
	video  *webrtc.RTPSender
	audio  *webrtc.RTPSender
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	joined time.Time
}

// AddViewer answers an SDP offer with the session's two tracks. The answer carries
// all candidates (gathering is complete), so WHEP clients need no trickle.
func (o *Output) AddViewer(ctx context.Context, offer webrtc.SessionDescription) (string, webrtc.SessionDescription, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return "", webrtc.SessionDescription{}, ErrClosed
	}
	if len(o.viewers) >= o.cfg.MaxViewers {
		o.mu.Unlock()
		return "", webrtc.SessionDescription{}, ErrTooManyViewers
	}
	o.mu.Unlock()

	pc, err := o.api.NewPeerConnection(webrtc.Configuration{ICEServers: o.cfg.ICEServers})
	if err != nil {
		return "", webrtc.SessionDescription{}, err
	}
	v := &viewer{id: strconv.FormatUint(o.ids.Add(1), 10), o: o, pc: pc, done: make(chan struct{}), joined: time.Now()}
	fail := func(err error) (string, webrtc.SessionDescription, error) {
		pc.Close()
		return "", webrtc.SessionDescription{}, err
	}
	if v.video, err = pc.AddTrack(o.video.track); err != nil {
		return fail(err)
	}
	if v.audio, err = pc.AddTrack(o.audio.track); err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(offer); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			o.RequestKeyFrame() // a picture for the newcomer now, not at the next GOP
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go o.RemoveViewer(v.id) // not on Pion's callback goroutine
		}
	})
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return fail(ErrClosed)
	}
	o.viewers[v.id] = v
	o.mu.Unlock()
	v.wg.Add(3)
	go v.readRTCP(v.video)
	go v.readRTCP(v.audio)
	go v.senderReports()
	return v.id, *pc.LocalDescription(), nil
}

// AddICECandidate adds a trickled remote candidate for viewer id.
func (o *Output) AddICECandidate(id string, c webrtc.ICECandidateInit) error {
	o.mu.Lock()
	v := o.viewers[id]
	o.mu.Unlock()
	if v == nil {
		return ErrNoViewer
	}
	return v.pc.AddICECandidate(c)
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

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.done)
		v.pc.Close() // ends the RTCP readers
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
