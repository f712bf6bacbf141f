// Package webrtctest is a headless Pion viewer for tests and benchmarks: it joins a
// session by WHEP and counts what arrives.
package webrtctest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Receiver is one viewer.
type Receiver struct {
	PC       *webrtc.PeerConnection
	Location string

	VideoPackets atomic.Int64
	AudioPackets atomic.Int64
	// Keyframes counts IDR pictures; LastKeyframe is when the latest began (unix ns).
	Keyframes    atomic.Int64
	LastKeyframe atomic.Int64
	videoSSRC    atomic.Uint32
	// VideoBytes counts RTP payload and padding bytes of video; VideoExpected is
	// the video packets the sequence numbers say were sent since the first one
	// (RFC 3550 §6.4.1's extended highest less the first, plus one): with
	// VideoPackets, the cumulative loss.
	VideoBytes    atomic.Int64
	VideoExpected atomic.Int64
	seqFirst      int64 // extended; owned by the video track's reader
	seqHigh       int64

	mu      sync.Mutex
	reports map[bool][]rtcp.SenderReport // by video
	arrived map[bool][]Arrival           // the latest packets, by video
	tracks  sync.WaitGroup
	done    chan struct{}
	wg      sync.WaitGroup
}

// JoinWHEP offers recvonly audio+video to url (…/whep/{session}) and connects.
func JoinWHEP(ctx context.Context, url string) (*Receiver, error) { return JoinWHEPToken(ctx, url, "") }

// JoinWHEPToken is JoinWHEP with a bearer token ("" for none), e.g. a viewer token.
func JoinWHEPToken(ctx context.Context, url, token string) (*Receiver, error) {
	return join(ctx, url, token, false)
}

// JoinWHEPCC is JoinWHEP as a browser receives: with Pion's default interceptors,
// so it sends transport-wide CC feedback (the sender's bandwidth estimate comes from
// it), NACKs and receiver reports.
func JoinWHEPCC(ctx context.Context, url string) (*Receiver, error) { return join(ctx, url, "", true) }

func join(ctx context.Context, url, token string, cc bool) (*Receiver, error) {
	// Only what avhost sends: H.264 and Opus (webrtcbin 1.22 as answerer matches an
	// offer better without codecs it cannot send).
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	opts := []func(*webrtc.API){webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)}
	if cc {
		ir := &interceptor.Registry{}
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			return nil, err
		}
		opts = append(opts, webrtc.WithInterceptorRegistry(ir))
	}
	api := webrtc.NewAPI(opts...)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	r := &Receiver{PC: pc, done: make(chan struct{}), reports: map[bool][]rtcp.SenderReport{}, arrived: map[bool][]Arrival{}}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	r.tracks.Add(2)
	pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		r.tracks.Done()
		n, video := &r.AudioPackets, t.Kind() == webrtc.RTPCodecTypeVideo
		if video {
			n = &r.VideoPackets
			r.videoSSRC.Store(uint32(t.SSRC()))
		}
		r.wg.Add(2)
		defer r.wg.Done()
		go r.readReports(recv, uint32(t.SSRC()), video)
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			n.Add(1)
			if video {
				r.countVideo(p)
			}
			r.mu.Lock()
			a := append(r.arrived[video], Arrival{At: time.Now(), RTPTime: p.Timestamp})
			if len(a) > 500 {
				a = a[len(a)-500:]
			}
			r.arrived[video] = a
			r.mu.Unlock()
			if video && startsIDR(p.Payload) {
				r.Keyframes.Add(1)
				r.LastKeyframe.Store(time.Now().UnixNano())
			}
		}
	})
	a, err := ExchangeWHEP(ctx, pc, url, token)
	if err != nil {
		return nil, err
	}
	r.Location = a.Location
	return r, nil
}

// WaitTracks blocks until both tracks arrived or ctx ends.
func (r *Receiver) WaitTracks(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { r.tracks.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countVideo keeps the video loss figures; on the video track's reader only.
func (r *Receiver) countVideo(p *rtp.Packet) {
	r.VideoBytes.Add(int64(len(p.Payload)) + int64(p.Header.PaddingSize))
	if r.VideoExpected.Load() == 0 {
		r.seqFirst, r.seqHigh = int64(p.SequenceNumber), int64(p.SequenceNumber)
	} else if d := int16(p.SequenceNumber - uint16(r.seqHigh)); d > 0 {
		r.seqHigh += int64(d)
	}
	r.VideoExpected.Store(r.seqHigh - r.seqFirst + 1)
}

// Arrival is when a packet with an RTP timestamp arrived.
type Arrival struct {
	At      time.Time
	RTPTime uint32
}

// readReports keeps the Sender Reports of one track until the connection ends.
func (r *Receiver) readReports(recv *webrtc.RTPReceiver, ssrc uint32, video bool) {
	defer r.wg.Done()
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc { // a compound packet carries both tracks' SRs
				r.mu.Lock()
				r.reports[video] = append(r.reports[video], *sr)
				r.mu.Unlock()
			}
		}
	}
}

// Reports returns the Sender Reports received for the video or audio track.
func (r *Receiver) Reports(video bool) []rtcp.SenderReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rtcp.SenderReport(nil), r.reports[video]...)
}

// Arrived returns the latest packets' arrival times (up to 500) for a track.
func (r *Receiver) Arrived(video bool) []Arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Arrival(nil), r.arrived[video]...)
}

// startsIDR reports whether an H.264 RTP payload (RFC 6184) starts an IDR picture:
// a single IDR NAL unit, a STAP-A holding one, or the first fragment of one.
func startsIDR(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] & 0x1f {
	case 5:
		return true
	case 24: // STAP-A: 16-bit size, NAL unit, ...
		for i := 1; i+2 < len(b); {
			size := int(b[i])<<8 | int(b[i+1])
			if b[i+2]&0x1f == 5 {
				return true
			}
			i += 2 + size
		}
	case 28: // FU-A: start bit and the fragmented unit's type
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}

// SendPLI asks the sender for a key frame, as a decoder that lost the picture does.
func (r *Receiver) SendPLI() error {
	return r.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: r.videoSSRC.Load()}})
}

// Close leaves (PC close; the server sees it through ICE/DTLS) and waits for readers.
func (r *Receiver) Close() {
	r.PC.Close()
	r.wg.Wait()
}
