package stream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Unit is one encoded sample (an H.264 access unit or an Opus packet) with the RTP
// packets the stream made of it. It is shared read-only by every reader: neither the
// Unit nor the bytes and packets it holds may be changed, so a consumer that changes
// a packet (SSRC, payload type) copies it first (Pion's TrackLocalStaticRTP.WriteRTP
// does; rtspout does).
type Unit struct {
	// Rendition is the video rendition the unit is of; the audio track's name for audio.
	Rendition string
	Video     bool
	AU        []byte // H.264 access unit (byte-stream) or Opus packet
	Key       bool   // a video key frame; always true for audio
	// Packets carry AU, with the rendition's sequence numbers and the track's RTP
	// timestamp; SSRC and payload type are left to each consumer.
	Packets []*rtp.Packet
	RT      time.Duration // running time
	NTP     time.Time     // the Sender Report timeline's wall time for RT
}

// track is one appsink's encode: a video rendition or the audio track.
type track struct {
	name   string
	video  bool
	sink   *sink
	clock  uint32 // RTP clock rate: 90 kHz video (RFC 6184), 48 kHz Opus (RFC 7587)
	offset uint32 // random RTP timestamp origin (RFC 3550 §5.1)
	params *h264Params
	// gate, if set, runs the rendition's encoder only while readers take it.
	gate    *gate
	bitrate int // bit/s, 0 if unknown

	// Owned by the track's pump.
	seq uint16
	pay codecs.H264Payloader

	packets, octets atomic.Uint32
	lastPTS         atomic.Int64 // running time of the last sample sent
	hasFirst        atomic.Bool
	lastKey         atomic.Int64 // unix ns of the last key unit request (rate limit)
}

func newTrack(name string, video bool, k *sink, offset uint32) *track {
	t := &track{name: name, video: video, sink: k, clock: 48000, offset: offset, seq: uint16(randU32())}
	if video {
		t.clock = 90000
		t.params = newH264Params()
	}
	return t
}

func (t *track) rtpTime(rt time.Duration) uint32 {
	return t.offset + uint32(uint64(rt)*uint64(t.clock)/uint64(time.Second))
}

// unit packetizes smp (whose data is its own, and from here read-only).
func (t *track) unit(smp sample, mtu int) *Unit {
	u := &Unit{Rendition: t.name, Video: t.video, AU: smp.data, Key: !t.video || !smp.delta, RT: smp.pts}
	ts := t.rtpTime(smp.pts)
	payloads := [][]byte{smp.data} // an Opus packet is one RTP payload (RFC 7587 §4.2)
	if t.video {
		payloads = t.pay.Payload(uint16(mtu-12), smp.data)
	}
	u.Packets = make([]*rtp.Packet, len(payloads))
	for i, p := range payloads {
		t.seq++
		u.Packets[i] = &rtp.Packet{Header: rtp.Header{Version: 2, Marker: t.video && i == len(payloads)-1,
			SequenceNumber: t.seq, Timestamp: ts}, Payload: p}
		t.packets.Add(1)
		t.octets.Add(uint32(len(p)))
	}
	if t.video && u.Key {
		t.params.update(smp.data)
	}
	t.lastPTS.Store(int64(smp.pts))
	t.hasFirst.Store(true)
	return u
}

// keyFrameInterval is the rate limit of key-frame requests per rendition.
const keyFrameInterval = 500 * time.Millisecond

func (t *track) requestKeyFrame() {
	now := time.Now().UnixNano()
	last := t.lastKey.Load()
	if now-last < int64(keyFrameInterval) || !t.lastKey.CompareAndSwap(last, now) {
		return
	}
	t.sink.requestKeyUnit()
}

// gate is the valve in front of a rendition's encoder, open while the rendition has
// users: readers delivering it or switching to it. Its lock is a leaf (taken under
// Reader.mu, never the other way).
type gate struct {
	el *gst.Element

	mu    sync.Mutex
	users int
	open  bool
}

// set opens or closes the valve. valve's drop is an atomic in the element, safe to
// set from any thread while PLAYING.
func (g *gate) set(open bool) {
	g.open = open
	g.el.SetProperty("drop", !open)
}

func (g *gate) isOpen() bool {
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// acquire adds a user of t; the first opens t's gate and asks its encoder for a key
// frame at once (past the rate limit: the request from before the gap closed may
// be long spent), so that the encoder does not resume with a picture predicted from
// frames the readers never got.
func (t *track) acquire() {
	g := t.gate
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users++
	if g.users == 1 {
		t.sink.requestKeyUnit()
		g.set(true)
	}
}

// release removes a user of t; the last closes its gate.
func (t *track) release() {
	g := t.gate
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users--
	if g.users == 0 {
		g.set(false)
	}
}
