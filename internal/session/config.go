package session

import (
	"fmt"
	"time"
)

// Config describes one session. Zero fields take the documented defaults in fill,
// which parses every field whole into typed, bounded values (params.go); the pipeline
// description is rendered from those values only, never from the text given here.
type Config struct {
	ID     string `yaml:"-"`
	Width  int    `yaml:"width"`  // defaults to 512; even, 16..3840
	Height int    `yaml:"height"` // defaults to 512; even, 16..3840, at most 3840×2160 pixels
	// FPS is "N" or "N/D" (e.g. "30000/1001"), 1 to 120 frames per second; defaults to
	// "25". fill rewrites it as "N/D".
	FPS string `yaml:"fps"`
	// Format is how clients send frames: BGR (the default), RGB, RGBA, I420, jpeg or
	// png (case-insensitive; fill rewrites it as spelled here).
	Format   string `yaml:"format"`
	Rate     int    `yaml:"rate"`     // 8000, 12000, 16000, 22050, 24000 (the default), 32000, 44100 or 48000
	Channels int    `yaml:"channels"` // 1 (the default) or 2
	// MaxQueue caps audio queued ahead of playout; a client that sends more is told
	// (queue_full) rather than silently dropped. Defaults to 20 s, at most 60 s.
	MaxQueue time.Duration `yaml:"max_queue"`
	// MaxFrames caps frames queued ahead of their time. Defaults to 4 s of frames;
	// fill lowers it to what MaxQueueBytes holds.
	MaxFrames int `yaml:"max_frames"`
	// MaxQueueBytes caps the bytes of frames queued ahead of their time (as held:
	// raw, JPEG/PNG decoded to BGR). Defaults to DefaultMaxQueueBytes.
	MaxQueueBytes int64 `yaml:"max_queue_bytes"`
	// Pipeline is the text of a pipeline file with ${NAME}s (package pipelines);
	// defaults to DefaultPipeline. It must contain a singleframesrc named video and a
	// pcmslicesrc named audio. It is the operator's (never a client's) and sees only
	// the typed values of params.
	Pipeline string `yaml:"pipeline"`
	// Backend serves WebRTC viewers through "pion" (the default: every viewer's
	// PeerConnection shares the encoded tracks) or "webrtcbin" (a webrtcbin per viewer).
	Backend string `yaml:"backend"`
	// ViewerToken, if set, is required to watch the session; the host token also
	// works. Empty: anyone who can reach the host may watch.
	ViewerToken string `yaml:"viewer_token"`
	// Lead is how far ahead of the next chunk an utterance starts; defaults to 60 ms.
	Lead time.Duration `yaml:"lead"`
	// Ladder is "on" (the default) or "off". On, Pion viewers move between the
	// encode ladder's renditions (pipelines.Ladder) by their bandwidth estimate; a
	// lower rendition encodes only while a viewer takes it, so an idle session or one
	// whose viewers all have the bandwidth costs no more CPU. Off, every viewer gets
	// the top rendition, as before the ladder. The memory budget counts the ladder's
	// encoders when it is on.
	Ladder string `yaml:"ladder"`

	p params // the typed values, set by fill
}

// DefaultMaxQueueBytes is the default cap on frame bytes queued per session: 1 s of
// 1080p30 BGR (187 MB) fits, as the clients' Play sends 1 s ahead; 512×512 keeps its
// full 4 s (79 MB); 4K holds 10 frames.
const DefaultMaxQueueBytes = 256 << 20

// Frame size bounds: the longer side up to 3840, up to 4K's pixel count (portrait
// avatars are common), even sides because the encoder takes I420.
const (
	minSide, maxSide = 16, 3840
	maxPixels        = 3840 * 2160
	maxAudioQueue    = 60 * time.Second
)

func (c *Config) fill() error {
	if err := ValidID(c.ID); err != nil {
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
		c.FPS = "25"
	}
	if c.Format == "" {
		c.Format = "BGR"
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 20 * time.Second
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.Lead == 0 {
		c.Lead = 60 * time.Millisecond
	}
	if c.Pipeline == "" {
		c.Pipeline = DefaultPipeline
	}
	if c.Backend == "" {
		c.Backend = "pion"
	}
	if c.Ladder == "" {
		c.Ladder = "on"
	}
	var p params
	var err error
	if p.FPS, err = ParseFPS(c.FPS); err != nil {
		return err
	}
	if p.in, err = parseFormat(c.Format); err != nil {
		return err
	}
	p.Format = p.in.raw()
	if err := CheckFrameSize(c.Width, c.Height); err != nil {
		return err
	}
	if !oneOf(c.Rate, 8000, 12000, 16000, 22050, 24000, 32000, 44100, 48000) {
		return fmt.Errorf("%w: audio rate %d (want 8000, 12000, 16000, 22050, 24000, 32000, 44100 or 48000)", ErrConfig, c.Rate)
	}
	if !oneOf(c.Channels, 1, 2) {
		return fmt.Errorf("%w: %d audio channels (want 1 or 2)", ErrConfig, c.Channels)
	}
	if c.Backend != "pion" && c.Backend != "webrtcbin" {
		return fmt.Errorf("%w: backend %s (want pion or webrtcbin)", ErrConfig, quote(c.Backend))
	}
	if c.Ladder != "on" && c.Ladder != "off" {
		return fmt.Errorf("%w: ladder %s (want on or off)", ErrConfig, quote(c.Ladder))
	}
	p.Ladder = c.Ladder == "on"
	if c.MaxQueue < 20*time.Millisecond || c.MaxQueue > maxAudioQueue {
		return fmt.Errorf("%w: audio queue %v outside 20ms..%v", ErrConfig, c.MaxQueue, maxAudioQueue)
	}
	if err := checkViewerToken(c.ViewerToken); err != nil {
		return err
	}
	if c.Lead < 0 || c.Lead > 2*time.Second {
		return fmt.Errorf("%w: lead %v outside 0..2s", ErrConfig, c.Lead)
	}
	p.Width, p.Height, p.Rate, p.Channels = c.Width, c.Height, c.Rate, c.Channels
	p.MaxQueueMS = c.MaxQueue.Milliseconds()
	// Frames are held at one fixed size each, so a count cap is a byte cap.
	fb := int64(p.frameBytes())
	if c.MaxFrames < 0 || c.MaxQueueBytes < fb {
		return fmt.Errorf("%w: frame queue of %d frames, %d bytes (one frame is %d)", ErrConfig, c.MaxFrames, c.MaxQueueBytes, fb)
	}
	def(&c.MaxFrames, 4*p.FPS.Num/p.FPS.Den)
	c.MaxFrames = int(min(int64(c.MaxFrames), c.MaxQueueBytes/fb))
	p.MaxFrames = c.MaxFrames
	p.KeyInt = 2 * p.FPS.Num / p.FPS.Den
	// Canonical spellings: what the created event, the session list and logs show.
	c.FPS, c.Format = p.FPS.String(), p.in.String()
	c.p = p
	return nil
}

// CheckFrameSize checks a frame size against the bounds sessions and `avhost run`
// share: even sides of 16..3840, at most 3840×2160 pixels.
func CheckFrameSize(w, h int) error {
	if w < minSide || h < minSide || w > maxSide || h > maxSide || w*h > maxPixels || w%2 != 0 || h%2 != 0 {
		return fmt.Errorf("%w: frame size %dx%d (want even sides of %d..%d, at most %d pixels)", ErrConfig, w, h, minSide, maxSide, maxPixels)
	}
	return nil
}

func oneOf(v int, set ...int) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// quote shows untrusted text in an error: quoted, and cut to 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Encoded reports whether clients send JPEG/PNG frames (decoded to BGR by avhost).
func (c Config) Encoded() bool {
	f, err := parseFormat(c.Format)
	return err == nil && f.encoded()
}

// LadderOn reports whether the session's viewers may use the encode ladder's lower
// renditions (after fill).
func (c Config) LadderOn() bool { return c.p.Ladder }

// FrameRate is the session's frame rate (after fill).
func (c Config) FrameRate() FPS { return c.p.FPS }

// checkViewerToken: a viewer token is a password that RTSP Digest exposes to offline
// guessing and that travels in HTTP headers, so it must be long and header-safe.
func checkViewerToken(t string) error {
	if t == "" {
		return nil
	}
	if len(t) < 16 || len(t) > 256 {
		return fmt.Errorf("%w: viewer token of %d characters (want 16..256)", ErrConfig, len(t))
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x21 || t[i] > 0x7e {
			return fmt.Errorf("%w: viewer token has a character that is not visible ASCII", ErrConfig)
		}
	}
	return nil
}

// MaxIDLen is the longest session id.
const MaxIDLen = 64

// ValidID checks a session id: 1 to MaxIDLen of [A-Za-z0-9_.-], since it appears in
// URLs, RTSP paths and metrics labels. Anything else is ErrConfig.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: session id must be 1-%d of [A-Za-z0-9_.-]", ErrConfig, MaxIDLen)
	}
	for _, c := range []byte(id) {
		ok := c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return fmt.Errorf("%w: session id must be 1-%d of [A-Za-z0-9_.-]", ErrConfig, MaxIDLen)
		}
	}
	return nil
}
