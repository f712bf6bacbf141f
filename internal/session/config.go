package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
)

// Config describes one session. Zero fields take the documented defaults in fill.
type Config struct {
	ID       string
	Width    int    // defaults to 512
	Height   int    // defaults to 512
	FPS      string // defaults to "25/1"
	Format   string // frames as clients send them: BGR (default), RGB, RGBA, I420, jpeg, png
	Rate     int    // pcmslicesrc rate; defaults to 24000 (the seed's)
	Channels int    // defaults to 1
	// MaxQueue caps audio queued ahead of playout; a client that sends more is told
	// (queue_full) rather than silently dropped. Defaults to 20 s.
	MaxQueue time.Duration
	// MaxFrames caps frames queued ahead of their time. Defaults to 4 s of frames.
	MaxFrames int
	// Pipeline is a text/template of the pipeline; defaults to DefaultPipeline. It must
	// contain a singleframesrc named video and a pcmslicesrc named audio.
	Pipeline string
	// Backend serves WebRTC viewers through "pion" (the default: every viewer's
	// PeerConnection shares the encoded tracks) or "webrtcbin" (a webrtcbin per viewer).
	Backend string
	// ViewerToken, if set, is required (Bearer or ?token=) to watch the session; the
	// host's ingest token also works. Empty: anyone who can reach the host may watch.
	ViewerToken string
	// Lead is how far ahead of the next chunk an utterance starts; defaults to 60 ms.
	Lead time.Duration
}

func (c *Config) fill() error {
	if err := ingestproto.ValidSessionID(c.ID); err != nil {
		return err
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Width, 512)
	def(&c.Height, 512)
	def(&c.Rate, 24000)
	def(&c.Channels, 1)
	if c.FPS == "" {
		c.FPS = "25/1"
	}
	if c.Format == "" {
		c.Format = "BGR"
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 20 * time.Second
	}
	if c.Lead == 0 {
		c.Lead = 60 * time.Millisecond
	}
	if c.Pipeline == "" {
		c.Pipeline = DefaultPipeline
	}
	switch c.Backend {
	case "":
		c.Backend = "pion"
	case "pion", "webrtcbin":
	default:
		return fmt.Errorf("session: backend %q (want pion or webrtcbin)", c.Backend)
	}
	n, d := c.fps()
	if n <= 0 || d <= 0 || n/d > 120 {
		return fmt.Errorf("session: fps %q", c.FPS)
	}
	def(&c.MaxFrames, 4*n/d)
	if c.Width < 16 || c.Height < 16 || c.Width > 3840 || c.Height > 2160 {
		return fmt.Errorf("session: frame size %dx%d outside 16x16..3840x2160", c.Width, c.Height)
	}
	switch strings.ToUpper(c.Format) {
	case "BGR", "RGB", "RGBA", "I420", "JPEG", "PNG":
	default:
		return fmt.Errorf("session: frame format %q", c.Format)
	}
	return nil
}

func (c Config) fps() (int, int) {
	var n, d int
	if k, _ := fmt.Sscanf(c.FPS, "%d/%d", &n, &d); k == 1 {
		d = 1
	}
	return n, d
}

// Encoded reports whether clients send JPEG/PNG frames (decoded to BGR by avhost).
func (c Config) Encoded() bool {
	f := strings.ToUpper(c.Format)
	return f == "JPEG" || f == "PNG"
}

func (c Config) rawFormat() string {
	if c.Encoded() {
		return "BGR"
	}
	return strings.ToUpper(c.Format)
}
