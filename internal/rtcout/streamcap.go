package rtcout

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v5/packetio"
)

// remoteStreams caps the read streams a viewer's packets open in its SRTP and SRTCP
// sessions (SettingEngine.BufferFactory). Pion opens one for every SSRC an RTCP
// packet names (a receiver report's blocks, a feedback's media SSRC) and keeps it,
// with up to 100 KB of buffer, until the PeerConnection closes: measured, receiver
// reports naming 31 random SSRCs, 100 a second, grew the host's heap by 25 MiB in
// 3 s, kept while the viewer stayed. An honest viewer names a handful: the SSRCs of
// its two tracks and of the video's RTX. Past maxRemoteStreams the viewer is
// dropped (over), and the stream gets a closed buffer, which holds nothing.
//
// RTP from a viewer is nobody's to read: a viewer only receives. Pion still opens a
// stream for each SSRC it arrives on and keeps it, unread; with a buffer each, media
// on 12 SSRCs made the host hold 12 MiB per viewer (TestViewerRTPHoldsNoMemory).
// RTP streams get a closed buffer, and count towards the cap.
type remoteStreams struct {
	n    atomic.Int32
	over func()
	once sync.Once
}

const (
	maxRemoteStreams = 32
	// srtp's own limit for the RTCP buffers it makes when no factory is set.
	srtcpBufferSize = 100 * 1000
)

// buffer is the BufferFactory: it runs under the SRTP session's stream lock, so
// over runs on a goroutine of its own.
func (c *remoteStreams) buffer(t packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
	b := &packetBuffer{packetio.NewBuffer()}
	if c.n.Add(1) > maxRemoteStreams {
		b.Close()
		c.once.Do(func() { go c.over() })
		return b
	}
	if t != packetio.RTCPBufferPacket {
		b.Close()
		return b
	}
	b.SetLimitSize(srtcpBufferSize)
	return b
}

// packetBuffer is srtp's own wrapper of packetio.Buffer (unexported there): an
// io.ReadWriteCloser that also carries packet attributes, as srtp's streams read
// and write them.
type packetBuffer struct{ *packetio.Buffer }

func (b *packetBuffer) Read(buf []byte) (int, error) {
	n, _, err := b.Buffer.Read(buf, nil)
	return n, err
}

func (b *packetBuffer) Write(buf []byte) (int, error) { return b.Buffer.Write(buf, nil) }

func (b *packetBuffer) ReadWithAttributes(buf []byte, attrs packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(buf, attrs)
}

func (b *packetBuffer) WriteWithAttributes(buf []byte, attrs packetio.Attributes) (int, error) {
	return b.Buffer.Write(buf, attrs)
}
