package rtcout

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/gstpush"
)

// Config configures one session's WebRTC output.
type Config struct {
	Options `yaml:",inline"`
	// MaxViewers caps viewers of one session; defaults to 100.
	MaxViewers int          `yaml:"max_viewers"`
	Log        *slog.Logger `yaml:"-"`
}

// stream is one encoded track: its appsink, its Pion track, and its RTP clock.
type stream struct {
	sink     *gstpush.Sink
	track    *webrtc.TrackLocalStaticRTP
	clock    uint32 // RTP clock rate
	offset   uint32 // random RTP timestamp origin (RFC 3550 §5.1)
	seq      uint16
	packets  atomic.Uint32
	octets   atomic.Uint32
	lastPTS  atomic.Int64 // of the last sample sent, running time
	hasFirst atomic.Bool
}

func (s *stream) rtpTime(rt time.Duration) uint32 {
	return s.offset + uint32(uint64(rt)*uint64(s.clock)/uint64(time.Second))
}

// Output is one session's WebRTC output.
type Output struct {
	cfg   Config
	api   *webrtc.API
	clock *gstpush.AppSrc // any element of the pipeline: its running time is the anchor
	video *stream
	audio *stream

	// The NTP timeline of Sender Reports: running time rt is wall time wall0 + (rt-rt0).
	wall0 time.Time
	rt0   time.Duration

	lastKey atomic.Int64 // unix ns of the last key unit request (rate limit)
	params  *h264Params  // the video stream's SPS/PPS, owned here (H264Params)

	smu  sync.Mutex
	subs map[int]func(Media)
	nsub int

	mu      sync.Mutex
	viewers map[string]*viewer
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New attaches an output to pipeline p, which must end its H.264 branch in an appsink
// named vout and its Opus branch in one named aout.
func New(p *gst.Pipeline, cfg Config) (*Output, error) {
	if cfg.MaxViewers == 0 {
		cfg.MaxViewers = 100
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	api, err := newAPI(cfg.Options)
	if err != nil {
		return nil, err
	}
	ve, err := p.GetElementByName("vout")
	if err != nil {
		return nil, fmt.Errorf("rtcout: pipeline has no appsink named vout")
	}
	ae, err := p.GetElementByName("aout")
	if err != nil {
		return nil, fmt.Errorf("rtcout: pipeline has no appsink named aout")
	}
	vt, err := webrtc.NewTrackLocalStaticRTP(videoCap, "video", "avhost")
	if err != nil {
		return nil, err
	}
	at, err := webrtc.NewTrackLocalStaticRTP(audioCap, "audio", "avhost")
	if err != nil {
		return nil, err
	}
	o := &Output{cfg: cfg, api: api, clock: gstpush.New(ve),
		video:   &stream{sink: gstpush.NewSink(ve), track: vt, clock: 90000, offset: randU32()},
		audio:   &stream{sink: gstpush.NewSink(ae), track: at, clock: 48000, offset: randU32()},
		viewers: map[string]*viewer{}, stop: make(chan struct{})}
	o.params = newH264Params()
	o.rt0, _ = o.clock.RunningTime()
	o.wall0 = time.Now()
	o.wg.Add(2)
	go o.pump(o.video, true)
	go o.pump(o.audio, false)
	return o, nil
}

// pump pulls encoded samples and writes them as RTP to every viewer. It owns the
// stream's sequence numbers; it ends at Close or at end of stream.
func (o *Output) pump(s *stream, video bool) {
	defer o.wg.Done()
	pay := &codecs.H264Payloader{}
	const mtu = 1200
	for {
		select {
		case <-o.stop:
			return
		default:
		}
		smp, ok, eos := s.sink.Pull(100 * time.Millisecond)
		if eos {
			return
		}
		if !ok {
			continue
		}
		ts := s.rtpTime(smp.PTS)
		var pkts []*rtp.Packet
		var payloads [][]byte
		if video {
			payloads = pay.Payload(mtu-12, smp.Data)
		} else {
			payloads = [][]byte{smp.Data}
		}
		for i, p := range payloads {
			s.seq++
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: video && i == len(payloads)-1,
				SequenceNumber: s.seq, Timestamp: ts}, Payload: p}
			if err := s.track.WriteRTP(pkt); err != nil {
				o.cfg.Log.Debug("rtp write", "err", err)
			}
			pkts = append(pkts, pkt)
			s.packets.Add(1)
			s.octets.Add(uint32(len(p)))
		}
		if video && !smp.Delta {
			o.params.update(smp.Data) // copied: smp.Data is the sink's reused buffer
		}
		s.lastPTS.Store(int64(smp.PTS))
		s.hasFirst.Store(true)
		o.publish(Media{Video: video, AU: smp.Data, Key: !smp.Delta, Packets: pkts, RT: smp.PTS, NTP: o.WallTime(smp.PTS)})
	}
}

// Media is one encoded sample as the pump sent it, for other outputs (RTSP, WHIP)
// to share the encode. AU and Packets are valid only during the callback; a consumer
// that changes a packet (SSRC, payload type) must copy it.
type Media struct {
	Video   bool
	AU      []byte // H.264 access unit (byte-stream) or Opus packet
	Key     bool
	Packets []*rtp.Packet
	RT      time.Duration // running time
	NTP     time.Time     // the Sender Report timeline's wall time for RT
}

// Subscribe calls f for every encoded sample until the returned cancel is called. f
// runs on the pump goroutine and must not block.
func (o *Output) Subscribe(f func(Media)) (cancel func()) {
	o.smu.Lock()
	defer o.smu.Unlock()
	if o.subs == nil {
		o.subs = map[int]func(Media){}
	}
	o.nsub++
	id := o.nsub
	o.subs[id] = f
	return func() {
		o.smu.Lock()
		delete(o.subs, id)
		o.smu.Unlock()
	}
}

func (o *Output) publish(m Media) {
	o.smu.Lock()
	defer o.smu.Unlock()
	for _, f := range o.subs {
		f(m)
	}
}

// RequestKeyFrame asks the encoder for a key frame, at most one every 500 ms (PLI
// storms from many viewers collapse into one).
func (o *Output) RequestKeyFrame() {
	now := time.Now().UnixNano()
	last := o.lastKey.Load()
	if now-last < int64(500*time.Millisecond) || !o.lastKey.CompareAndSwap(last, now) {
		return
	}
	o.video.sink.RequestKeyUnit()
}

// WallTime is the wall-clock time of running time rt on the Sender Report timeline;
// on one machine, a browser's performance.timeOrigin + now is on the same clock.
func (o *Output) WallTime(rt time.Duration) time.Time { return o.wall0.Add(rt - o.rt0) }

// RTPTime is the RTP timestamp the video or audio track gives running time rt.
func (o *Output) RTPTime(video bool, rt time.Duration) uint32 {
	if video {
		return o.video.rtpTime(rt)
	}
	return o.audio.rtpTime(rt)
}

// ntpAt is the NTP time of running time rt on this output's timeline.
func (o *Output) ntpAt(rt time.Duration) uint64 {
	return toNTP(o.wall0.Add(rt - o.rt0))
}

// Viewers is the number of connected viewers.
func (o *Output) Viewers() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.viewers)
}

// SyncOffset is the sender-side audio/video offset: the difference between the
// running times of the last audio and video samples sent, less their nominal gap.
// Both streams are stamped from one clock, so what this shows is encoder delay.
func (o *Output) SyncOffset() time.Duration {
	if !o.video.hasFirst.Load() || !o.audio.hasFirst.Load() {
		return 0
	}
	return time.Duration(o.audio.lastPTS.Load() - o.video.lastPTS.Load())
}

// Close disconnects every viewer and stops the pumps; idempotent.
func (o *Output) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	vs := make([]*viewer, 0, len(o.viewers))
	for _, v := range o.viewers {
		vs = append(vs, v)
	}
	o.mu.Unlock()
	for _, v := range vs {
		v.close()
	}
	close(o.stop)
	o.wg.Wait()
}
