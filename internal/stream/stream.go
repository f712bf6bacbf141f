// Package stream is a session's encoded media: the one bus every output (each WebRTC
// backend's viewers, RTSP, WHIP publishing) subscribes to. The session's pipeline
// encodes once and ends each encode in an appsink; the stream pumps those appsinks,
// puts every sample on the RTP clock (one random origin per track, RFC 3550 §5.1),
// packetizes it (H.264 per RFC 6184, Opus per RFC 7587), keeps the Sender Report
// timeline (running time → NTP, from the pipeline clock, RFC 3550 §6.4.1), the codec
// parameters (SPS/PPS) and the key-frame requests, and hands each sample to every
// reader through that reader's own bounded queue.
//
// A stream has renditions: video encodes of one picture (a session's encode ladder,
// appsinks vout, vout1, vout2, or vout alone) and one audio track (appsink aout). A
// reader picks a video rendition and may switch; the switch takes effect at the new
// rendition's next key frame, so the reader's decoder never sees a picture it cannot
// decode. A rendition may be gated (Config.Gates): its encoder runs only while a
// reader takes it.
//
// What a reader gets it owns with every other reader: a Unit is copied once out of
// the appsink buffer and never changed afterwards. Readers share it read-only; one
// that changes an RTP packet (SSRC, payload type) copies the packet first.
//
// The shape is mediamtx's internal/stream: one writer, a queue per reader, and a slow
// reader drops (and counts) rather than stalls the writer or the other readers.
package stream

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/pipelines"
)

// Lock order: Stream.mu, then Reader.mu, then a rendition's gate.mu (a leaf). The pumps take no lock of the stream's: they
// read the reader list from an atomic snapshot and hand units over with non-blocking
// sends, so no reader can stall a pump, whatever it does with its units.

// Config names the appsinks a stream pumps. Zero fields take the defaults named.
type Config struct {
	// Video names the appsinks of the video renditions (H.264 byte-stream, one access
	// unit per buffer), best first; a rendition is named after its appsink, and the
	// first is the default. Defaults to ["vout"].
	Video []string
	// Gates names, per rendition, the valve (drop=true until opened) in front of its
	// encoder: the stream opens it while a reader takes the rendition, closes it when
	// the last one leaves, and asks for a key frame on opening (x264 keeps its
	// references across the gap). A rendition without one always encodes. Defaults
	// to none.
	Gates map[string]string
	// Bitrates is each rendition's encoder bitrate in bit/s, for readers that pick a
	// rendition by bandwidth (Stream.Bitrate); defaults to none (0: unknown).
	Bitrates map[string]int
	// Audio names the appsink of the Opus track; defaults to "aout".
	Audio string
	// AudioEncoder names the opusenc whose packet-loss-percentage (in-band FEC's
	// expected loss) the stream sets from the loss readers report (fecloss.go);
	// defaults to none: the encoder keeps what its description says.
	AudioEncoder string
	// MTU bounds the RTP packets made (header included); defaults to 1200, which
	// WebRTC paths carry without IP fragmentation.
	MTU int
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Defaults of Config and of a reader's queue.
const (
	DefaultVideo = pipelines.VideoSink
	DefaultAudio = pipelines.AudioSink
	DefaultMTU   = 1200
	// DefaultQueue is a reader's queue when Subscribe is given none: 128 units are
	// ≈1.7 s of 25 fps video with 20 ms audio, enough for a scheduler stall or a GC
	// pause without a drop.
	DefaultQueue = 128
)

// Stream is one session's encoded media.
type Stream struct {
	cfg    Config
	video  []*track // the renditions, default first
	audio  *track
	anchor *sink // any element of the pipeline: its running time is the clock's

	// The NTP timeline of Sender Reports: running time rt is wall time wall0 + (rt-rt0).
	wall0 time.Time
	rt0   time.Duration

	// fecEnc is Config.AudioEncoder's element (nil: none), fecCur the expected loss
	// last set on it (fecloss.go).
	fecEnc *gst.Element
	fecCur atomic.Int32

	mu      sync.Mutex
	readers atomic.Pointer[[]*Reader] // replaced under mu, read by the pumps
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New starts pumping the appsinks of p that cfg names. p should be PLAYING or about
// to be: the Sender Report timeline is anchored at the running time New sees.
func New(p *gst.Pipeline, cfg Config) (*Stream, error) {
	if len(cfg.Video) == 0 {
		cfg.Video = []string{DefaultVideo}
	}
	if cfg.Audio == "" {
		cfg.Audio = DefaultAudio
	}
	if cfg.MTU <= 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	find := func(name string) (*sink, error) {
		e, err := p.GetElementByName(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrNoAppsink, name)
		}
		return newSink(e), nil
	}
	s := &Stream{cfg: cfg, stop: make(chan struct{})}
	// Video renditions share one RTP origin: one picture on one clock, so a reader
	// that switches keeps one timeline (only sequence numbers are per rendition).
	voff := randU32()
	for _, name := range cfg.Video {
		k, err := find(name)
		if err != nil {
			return nil, err
		}
		for _, t := range s.video {
			if t.name == name {
				return nil, fmt.Errorf("stream: rendition %q named twice", name)
			}
		}
		t := newTrack(name, true, k, voff)
		t.bitrate = cfg.Bitrates[name]
		if g := cfg.Gates[name]; g != "" {
			e, err := p.GetElementByName(g)
			if err != nil {
				return nil, fmt.Errorf("%w: gate %q of rendition %q", ErrNoAppsink, g, name)
			}
			t.gate = &gate{el: e}
			t.gate.set(false) // whatever the description says, closed until a reader comes
		}
		s.video = append(s.video, t)
	}
	k, err := find(cfg.Audio)
	if err != nil {
		return nil, err
	}
	s.audio = newTrack(cfg.Audio, false, k, randU32())
	if cfg.AudioEncoder != "" {
		e, err := p.GetElementByName(cfg.AudioEncoder)
		if err != nil {
			return nil, fmt.Errorf("%w: audio encoder %q", ErrNoAppsink, cfg.AudioEncoder)
		}
		s.fecEnc = e
		e.SetProperty("packet-loss-percentage", fecFloor)
		s.fecCur.Store(fecFloor)
	}
	s.anchor = s.video[0].sink
	s.readers.Store(&[]*Reader{})
	s.rt0, _ = s.anchor.runningTime()
	s.wall0 = time.Now()
	for _, t := range append([]*track{s.audio}, s.video...) {
		s.wg.Add(1)
		go s.pump(t)
	}
	if s.fecEnc != nil {
		s.wg.Add(1)
		go s.fecLoop(s.fecEnc)
	}
	return s, nil
}

// pump pulls t's encoded samples and hands them to every reader. It owns t's
// sequence numbers and payloader; it ends at Close.
func (s *Stream) pump(t *track) {
	defer s.wg.Done()
	const poll = 100 * time.Millisecond // bounds how long Close waits for a pump
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		smp, ok, eos := t.sink.pull(poll)
		if eos {
			// An appsink not yet started (the pipeline not PLAYING yet) says EOS too,
			// and returns at once: wait, rather than end or spin.
			select {
			case <-s.stop:
				return
			case <-time.After(poll):
			}
			continue
		}
		if !ok {
			continue
		}
		u := t.unit(smp, s.cfg.MTU)
		u.NTP = s.WallTime(u.RT)
		for _, r := range *s.readers.Load() {
			r.offer(t, u)
		}
		// The next pull blocks in C, and its thread keeps the P it runs on until the
		// runtime's monitor takes it back (20 µs to 10 ms later): a reader just made
		// ready there would wait that long. Yielding first lets the readers run now
		// (with units handed over on time, a reader got audio 5.4 and 2.5 ms after
		// its time at p95 without, 1.3 ms with, the pump 1.1 ms; load 2-4 on 2 cores).
		runtime.Gosched()
	}
}

// Renditions names the video renditions, the default first.
func (s *Stream) Renditions() []string {
	names := make([]string, len(s.video))
	for i, t := range s.video {
		names[i] = t.name
	}
	return names
}

// Bitrate is rendition's encoder bitrate in bit/s (Config.Bitrates), 0 if unknown.
func (s *Stream) Bitrate(rendition string) int {
	t, err := s.rendition(rendition)
	if err != nil {
		return 0
	}
	return t.bitrate
}

// Encoding reports whether rendition's encoder is running: always for one without
// a gate, and for a gated one while a reader takes it.
func (s *Stream) Encoding(rendition string) bool {
	t, err := s.rendition(rendition)
	return err == nil && t.gate.isOpen()
}

// rendition finds video rendition name; "" is the default.
func (s *Stream) rendition(name string) (*track, error) {
	if name == "" {
		return s.video[0], nil
	}
	for _, t := range s.video {
		if t.name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoRendition, name)
}

// RequestKeyFrame asks rendition's encoder ("" is the default) for a key frame, at
// most once every 500 ms: PLI storms from many viewers collapse into one.
func (s *Stream) RequestKeyFrame(rendition string) {
	if t, err := s.rendition(rendition); err == nil {
		t.requestKeyFrame()
	}
}

// H264Params returns rendition's current SPS and PPS ("" is the default; nil until an
// access unit carrying them has passed) and a channel closed once both are known.
// The slices are the stream's own and never change; callers must not modify them.
func (s *Stream) H264Params(rendition string) (sps, pps []byte, known <-chan struct{}) {
	t, err := s.rendition(rendition)
	if err != nil {
		return nil, nil, nil
	}
	t.params.mu.Lock()
	defer t.params.mu.Unlock()
	return t.params.sps, t.params.pps, t.params.known
}

// RunningTime is the pipeline's running time now; false while it has no clock.
func (s *Stream) RunningTime() (time.Duration, bool) { return s.anchor.runningTime() }

// WallTime is the wall-clock time of running time rt on the Sender Report timeline;
// on one machine, a browser's performance.timeOrigin + now is on the same clock.
func (s *Stream) WallTime(rt time.Duration) time.Time { return s.wall0.Add(rt - s.rt0) }

// RTPTime is the RTP timestamp the video (every rendition) or audio track gives
// running time rt.
func (s *Stream) RTPTime(video bool, rt time.Duration) uint32 {
	if video {
		return s.video[0].rtpTime(rt)
	}
	return s.audio.rtpTime(rt)
}

// Report is what an RTCP Sender Report says of one track (RFC 3550 §6.4.1): NTP and
// RTP time both at one running time of the pipeline clock, so a receiver maps audio
// and video onto one timeline whatever each encoder's delay.
type Report struct {
	NTP     uint64 // 64-bit NTP format (RFC 3550 §4)
	RTPTime uint32
	Packets uint32 // sent since the start, wrapping
	Octets  uint32 // payload octets sent since the start, wrapping
}

// Report is the Sender Report of video rendition ("" is the default) or of the
// audio track, taken now; false while the track has sent nothing or the pipeline
// has no clock.
func (s *Stream) Report(video bool, rendition string) (Report, bool) {
	t := s.audio
	if video {
		var err error
		if t, err = s.rendition(rendition); err != nil {
			return Report{}, false
		}
	}
	rt, ok := s.RunningTime()
	if !ok || !t.hasFirst.Load() {
		return Report{}, false
	}
	return Report{NTP: toNTP(s.WallTime(rt)), RTPTime: t.rtpTime(rt), Packets: t.packets.Load(), Octets: t.octets.Load()}, true
}

// SyncOffset is the sender-side audio/video offset: the running time of the last
// audio sample sent less that of the default rendition's last video sample. Both are
// stamped from one clock, so what this shows is encoder delay.
func (s *Stream) SyncOffset() time.Duration {
	v := s.video[0]
	if !v.hasFirst.Load() || !s.audio.hasFirst.Load() {
		return 0
	}
	return time.Duration(s.audio.lastPTS.Load() - v.lastPTS.Load())
}

// Close stops the pumps and ends every reader's delivery; idempotent. A reader's
// Close still works (and does nothing) afterwards.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	for _, r := range *s.readers.Load() {
		r.Close()
	}
}
