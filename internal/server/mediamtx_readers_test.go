package server_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// How the tests read the publication back from MediaMTX: its RTSP (a gortsplib client
// waiting for a key frame) and its WHEP (packet taps matched against a direct viewer
// of avhost), and what a reader measures from them.

// firstKeyFrame reads MediaMTX's RTSP stream, retrying while the path has no publisher,
// and returns when the first packet of an H.264 key frame arrives: from then on a
// reader can decode a picture.
func firstKeyFrame(ctx context.Context, url string) (up, key time.Time, err error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return up, key, err
	}
	for {
		up, key, err = readKeyFrame(ctx, u)
		if err == nil {
			return up, key, nil
		}
		select {
		case <-ctx.Done():
			return up, key, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond): // retry cadence while the path is empty
		}
	}
}

// readKeyFrame returns when MediaMTX described the stream (it has a publisher) and
// when the first key frame came.
func readKeyFrame(ctx context.Context, u *base.URL) (up, key time.Time, err error) {
	tcp := gortsplib.TransportTCP
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return up, key, err
	}
	defer c.Close()
	desc, _, err := c.Describe(u) // 404 until the publisher is back
	if err != nil {
		return up, key, err
	}
	up = time.Now()
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return up, key, err
	}
	keys := make(chan time.Time, 1)
	c.OnPacketRTPAny(func(_ *description.Media, f format.Format, p *rtp.Packet) {
		if _, ok := f.(*format.H264); ok && keyFramePacket(p.Payload) {
			select {
			case keys <- time.Now():
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return up, key, err
	}
	select {
	case key = <-keys:
		return up, key, nil
	case <-ctx.Done():
		return up, key, ctx.Err()
	case <-time.After(5 * time.Second): // GOP 2 s: a stream without a key frame by now is broken
		return up, key, errors.New("no key frame within 5 s")
	}
}

// keyFramePacket reports whether an H.264 RTP payload (RFC 6184) holds an IDR NAL unit
// or the start of one, alone, in a STAP-A or as the first FU-A fragment.
func keyFramePacket(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] & 0x1f {
	case 5:
		return true
	case 24:
		for i := 1; i+2 < len(b); {
			if b[i+2]&0x1f == 5 {
				return true
			}
			i += 2 + (int(b[i])<<8 | int(b[i+1]))
		}
	case 28:
		return b[1]&0x80 != 0 && b[1]&0x1f == 5
	}
	return false
}

// avOffset is what a receiver that syncs by Sender Reports (RFC 3550 §6.4.1) sees: for
// each track, how long after the time its SR mapping gives a packet arrives (median),
// and the audio's lag minus the video's. 0 is in sync; positive, audio comes late.
func avOffset(r *webrtctest.Receiver) (offset, video, audio float64, err error) {
	lag := map[bool]float64{}
	for _, v := range []bool{true, false} {
		srs, arr := r.Reports(v), r.Arrived(v)
		if len(srs) == 0 || len(arr) == 0 {
			return 0, 0, 0, fmt.Errorf("video=%v: %d SRs, %d packets", v, len(srs), len(arr))
		}
		clock := map[bool]float64{true: 90000, false: 48000}[v]
		last := srs[len(srs)-1]
		var l []float64
		for _, a := range arr {
			at := fromNTP(last.NTPTime).Add(time.Duration(float64(int32(a.RTPTime-last.RTPTime)) / clock * float64(time.Second)))
			l = append(l, float64(a.At.Sub(at))/1e6)
		}
		sort.Float64s(l)
		lag[v] = l[len(l)/2]
	}
	return lag[false] - lag[true], lag[true], lag[false], nil
}

// packetTap is a WHEP viewer that notes when packets arrive, keyed by what identifies
// the same media on two paths: an Opus packet by its payload (relayed unchanged), an
// H.264 frame by its RTP time (MediaMTX repacketizes and offsets it, by a constant).
type packetTap struct {
	pc *webrtc.PeerConnection
	wg sync.WaitGroup

	mu     sync.Mutex
	audio  map[string]time.Time
	frames []tapFrame
}

type tapFrame struct {
	ts  uint32
	at  time.Time
	key bool
}

// tapLimit bounds what a tap keeps: about 20 s of audio and 40 s of frames.
const tapLimit = 1000

func joinTap(ctx context.Context, url string) (*packetTap, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &packetTap{pc: pc, audio: map[string]time.Time{}}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.wg.Add(1)
		defer p.wg.Done()
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		for {
			pkt, _, err := tr.ReadRTP() // ends when the PC closes
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			n := len(p.frames)
			switch {
			case !video && len(p.audio) < tapLimit:
				p.audio[string(pkt.Payload)] = now
			case video && n > 0 && p.frames[n-1].ts == pkt.Timestamp: // a frame's later packet (SPS/PPS come first)
				p.frames[n-1].key = p.frames[n-1].key || keyFramePacket(pkt.Payload)
			case video && n < tapLimit:
				p.frames = append(p.frames, tapFrame{ts: pkt.Timestamp, at: now, key: keyFramePacket(pkt.Payload)})
			}
			p.mu.Unlock()
		}
	})
	if _, err := webrtctest.ExchangeWHEP(ctx, pc, url, ""); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *packetTap) keyFrames() (n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.frames {
		if f.key {
			n++
		}
	}
	return n
}

func (p *packetTap) close() {
	p.pc.Close()
	p.wg.Wait()
}

// relayDelay is how much later (median, ms) relayed's video frames and audio packets
// arrive than direct's. Frames are matched by RTP time once a key frame seen on both
// gives the relay's timestamp offset.
func relayDelay(direct, relayed *packetTap) (video, audio float64, err error) {
	direct.mu.Lock()
	defer direct.mu.Unlock()
	relayed.mu.Lock()
	defer relayed.mu.Unlock()
	var ad []float64
	for pl, at := range relayed.audio {
		if d, ok := direct.audio[pl]; ok {
			ad = append(ad, float64(at.Sub(d))/1e6)
		}
	}
	byTS := map[uint32]time.Time{}
	for _, f := range direct.frames {
		byTS[f.ts] = f.at
	}
	// The relay's timestamp offset, from the key frame pair that arrived closest
	// together: key frames come every 2 s and on each viewer's join, so pairs a few
	// hundred ms apart are different frames.
	var off uint32
	best := time.Second
	for _, rk := range relayed.frames {
		for _, dk := range direct.frames {
			if d := rk.at.Sub(dk.at).Abs(); rk.key && dk.key && d < best {
				off, best = rk.ts-dk.ts, d
			}
		}
	}
	var vd []float64
	for _, f := range relayed.frames {
		if d, ok := byTS[f.ts-off]; ok && best < time.Second {
			vd = append(vd, float64(f.at.Sub(d))/1e6)
		}
	}
	if len(ad) < 100 || len(vd) < 50 {
		return 0, 0, fmt.Errorf("matched %d audio packets and %d video frames across the two taps", len(ad), len(vd))
	}
	sort.Float64s(ad)
	sort.Float64s(vd)
	return vd[len(vd)/2], ad[len(ad)/2], nil
}
