// Package refsend is the latency reference for avhost's WebRTC path: a plain Pion
// sender that writes pre-encoded H.264 and Opus of the flash+beep pattern (a white
// frame and an 80 ms 1 kHz burst at the start of every second) in lock-step with the
// clock, each unit at its media time, and serves it by WHEP. Nothing sits between the
// clock and the wire but a timer, so what a browser adds to it is the floor any
// sender of the same content gets; avhost is measured against it in the same run.
package refsend

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Sender writes the pattern from Start on, to every WHEP viewer it has.
type Sender struct {
	// Start is the wall time of media time 0: flash k is due at Start + k s.
	Start time.Time
	fps   int

	aus, opus    [][]byte
	video, audio *webrtc.TrackLocalStaticRTP
	vbase, abase uint32 // RTP timestamps of media time 0
	api          *webrtc.API

	mu      sync.Mutex
	pcs     map[string]*webrtc.PeerConnection
	late    map[bool][]time.Duration // per unit: written minus due, the latest 1000
	written int                      // the latest video unit written

	audioLag atomic.Int64 // ns: audio written this much after its due time
	swapped  atomic.Pointer[pictures]

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New encodes seconds of the pattern at w×h and fps into dir (ffmpeg) and starts
// writing it at once; it loops after seconds (an even number keeps the loop on a key
// frame: a key frame every 2 s). opusArgs are more ffmpeg options for libopus (e.g.
// "-ar", "24000", "-fec", "1": Opus as avhost encodes it).
func New(dir string, seconds, w, h, fps int, opusArgs ...string) (*Sender, error) {
	aus, opus, err := readMedia(dir, seconds, w, h, fps, opusArgs)
	if err != nil {
		return nil, err
	}
	if len(aus) < fps || len(opus) < 50 {
		return nil, fmt.Errorf("refsend: %d pictures, %d Opus packets", len(aus), len(opus))
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	s := &Sender{fps: fps, aus: aus, opus: opus, vbase: rand.Uint32(), abase: rand.Uint32(),
		api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)),
		pcs: map[string]*webrtc.PeerConnection{}, late: map[bool][]time.Duration{}}
	if s.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "ref"); err != nil {
		return nil, err
	}
	if s.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}, "audio", "ref"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.Start = time.Now().Add(50 * time.Millisecond)
	s.wg.Add(2)
	go s.write(ctx, true)
	go s.write(ctx, false)
	return s, nil
}

// write sends unit i of a track at Start + i periods, by a timer against the start
// (no drift), looping over the encoded units.
func (s *Sender) write(ctx context.Context, video bool) {
	defer s.wg.Done()
	period, units, track, clock, base := 20*time.Millisecond, s.opus, s.audio, 48000, s.abase
	var pay rtp.Payloader = &codecs.OpusPayloader{}
	if video {
		period, units, track, clock, base = time.Second/time.Duration(s.fps), s.aus, s.video, 90000, s.vbase
		pay = &codecs.H264Payloader{}
	}
	seq := uint16(rand.Uint32())
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; ; i++ {
		due := s.Start.Add(time.Duration(i) * period)
		if !video {
			due = due.Add(time.Duration(s.audioLag.Load()))
		}
		t.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ts := base + uint32(int64(i)*int64(period)*int64(clock)/int64(time.Second))
		unit := units[i%len(units)]
		if p := s.swapped.Load(); video && p != nil && i >= p.from {
			unit = p.aus[(i-p.from)%len(p.aus)]
		}
		payloads := pay.Payload(1200, unit)
		for j, p := range payloads {
			seq++
			track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: video && j == len(payloads)-1,
				SequenceNumber: seq, Timestamp: ts}, Payload: p})
		}
		s.mu.Lock()
		l := append(s.late[video], time.Since(due))
		if len(l) > 1000 {
			l = l[1:]
		}
		s.late[video] = l
		if video {
			s.written = i
		}
		s.mu.Unlock()
	}
}

// pictures is a replacement for the encoded video: unit i of the writer is
// aus[(i-from) % len(aus)].
type pictures struct {
	aus  [][]byte
	from int
}

// ReplaceVideo makes the video the access units aus (Annex B, one picture each,
// starting with a key frame, looping), from the next picture on: e.g. another
// encoder's output, to tell what the encoding does from what the sending does.
func (s *Sender) ReplaceVideo(aus [][]byte) {
	s.mu.Lock()
	next := s.written + 1
	s.mu.Unlock()
	s.swapped.Store(&pictures{aus: aus, from: next})
}

// SetAudioLag makes the audio leave d after its media time, as a live encoder's
// lookahead makes it (Opus: 6.5 ms), the video staying on time.
func (s *Sender) SetAudioLag(d time.Duration) { s.audioLag.Store(int64(d)) }

// MediaTime is the wall time a track's RTP timestamp stands for.
func (s *Sender) MediaTime(video bool, ts uint32) time.Time {
	if video {
		return s.Start.Add(time.Duration(float64(int32(ts-s.vbase)) / 90000 * float64(time.Second)))
	}
	return s.Start.Add(time.Duration(float64(int32(ts-s.abase)) / 48000 * float64(time.Second)))
}

// RTPZero is the RTP timestamp of media time 0 of a track.
func (s *Sender) RTPZero(video bool) uint32 {
	if video {
		return s.vbase
	}
	return s.abase
}

// Late returns, for the latest units written (up to 1000), how long after their due
// time each went to the tracks.
func (s *Sender) Late(video bool) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.late[video]...)
}

// ServeHTTP is the WHEP endpoint: POST an offer to any path, get the answer (201,
// with every candidate) and a Location to DELETE.
func (s *Sender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		s.mu.Lock()
		pc := s.pcs[id]
		delete(s.pcs, id)
		s.mu.Unlock()
		if pc != nil {
			pc.Close()
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodPost:
		offer, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id, answer, err := s.add(r.Context(), string(offer))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+id)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, answer)
	default:
		http.Error(w, "POST or DELETE", http.StatusMethodNotAllowed)
	}
}

func (s *Sender) add(ctx context.Context, offer string) (id, answer string, err error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	fail := func(err error) (string, string, error) { pc.Close(); return "", "", err }
	for _, t := range []*webrtc.TrackLocalStaticRTP{s.video, s.audio} {
		snd, err := pc.AddTrack(t)
		if err != nil {
			return fail(err)
		}
		go func() { // the interceptors (NACK, reports) read RTCP through here; ends with pc
			for {
				if _, _, err := snd.ReadRTCP(); err != nil {
					return
				}
			}
		}()
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	id = fmt.Sprintf("%016x", rand.Uint64())
	s.mu.Lock()
	s.pcs[id] = pc
	s.mu.Unlock()
	return id, pc.LocalDescription().SDP, nil
}

// Close stops writing and closes every viewer.
func (s *Sender) Close() {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	pcs := s.pcs
	s.pcs = map[string]*webrtc.PeerConnection{}
	s.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
}
