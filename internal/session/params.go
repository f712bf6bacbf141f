package session

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/pipelines"
)

// params are all a pipeline description sees: numbers, and names from fixed sets. No
// text from a client reaches a description, so a value cannot add elements or
// properties to it (FuzzSessionConfig checks that).
type params struct {
	Width, Height int
	FPS           FPS
	Format        pixelFormat // raw, as singleframesrc emits it (JPEG/PNG sessions: BGR)
	MaxFrames     int
	KeyInt        int
	Rate          int
	Channels      int
	MaxQueueMS    int64
	Ladder        bool        // viewers may move between the ladder's renditions
	in            pixelFormat // as clients send frames
}

// opusLossPercent is the packet loss opusenc's in-band FEC plans for at the start:
// the stream then sets it from the worst viewer's receiver reports, never below
// this floor (internal/stream/fecloss.go: 9 % keeps libopus in the SILK/hybrid
// modes that carry FEC whatever the content).
const opusLossPercent = 9

// vars are the ${NAME}s a session's pipeline file may use, each from a typed value.
func (p params) vars() pipelines.Vars {
	return pipelines.Vars{
		"WIDTH": pipelines.Int(p.Width), "HEIGHT": pipelines.Int(p.Height),
		"FPS": pipelines.Fraction(p.FPS.Num, p.FPS.Den), "FORMAT": p.Format.word(),
		"MAX_FRAMES": pipelines.Int(p.MaxFrames), "KEY_INT": pipelines.Int(p.KeyInt),
		"RATE": pipelines.Int(p.Rate), "CHANNELS": pipelines.Int(p.Channels),
		"MAX_QUEUE_MS": pipelines.Int(p.MaxQueueMS),
		"TOP_KBPS":     pipelines.Int(pipelines.Ladder[0].Kbps),
		"MID_WIDTH":    pipelines.Int(scaled(p.Width, pipelines.Ladder[1].Scale)),
		"MID_HEIGHT":   pipelines.Int(scaled(p.Height, pipelines.Ladder[1].Scale)),
		"MID_KBPS":     pipelines.Int(pipelines.Ladder[1].Kbps),
		"LOW_WIDTH":    pipelines.Int(scaled(p.Width, pipelines.Ladder[2].Scale)),
		"LOW_HEIGHT":   pipelines.Int(scaled(p.Height, pipelines.Ladder[2].Scale)),
		"LOW_KBPS":     pipelines.Int(pipelines.Ladder[2].Kbps),
		"OPUS_LOSS":    pipelines.Int(opusLossPercent),
	}
}

// scaled is side/div rounded down to even (I420 wants even sides), never below the
// smallest side a session may have.
func scaled(side, div int) int {
	return max(side/div&^1, minSide)
}

// ladderPixels is the pixel count of the renditions below the top one.
func (p params) ladderPixels() int {
	n := 0
	for _, r := range pipelines.Ladder[1:] {
		n += scaled(p.Width, r.Scale) * scaled(p.Height, r.Scale)
	}
	return n
}

func (p params) frameBytes() int {
	return singleframesrc.FrameBytes(p.Format.String(), p.Width, p.Height)
}

// FPS is a frame rate Num/Den frames per second.
type FPS struct{ Num, Den int }

// Frame rate bounds: 1 to 120 frames per second, denominators up to 1001 (NTSC's).
const (
	maxFPS    = 120
	maxFPSDen = 1001
)

// ParseFPS reads a whole frame rate, "N" or "N/D" in decimal digits, 1 to 120 fps with
// D up to 1001. Anything else in the string (a sign, spaces, more text) is an error.
func ParseFPS(s string) (FPS, error) {
	num, den, slash := strings.Cut(s, "/")
	n, err1 := digits(num)
	d := uint64(1)
	var err2 error
	if slash {
		d, err2 = digits(den)
	}
	if err1 != nil || err2 != nil || d == 0 || d > maxFPSDen || n < d || n > maxFPS*d {
		return FPS{}, fmt.Errorf("%w: fps %s (want N or N/D, 1 to %d frames per second, D up to %d)", ErrConfig, quote(s), maxFPS, maxFPSDen)
	}
	return FPS{Num: int(n), Den: int(d)}, nil
}

// digits parses 1-6 decimal digits and nothing else (no sign, space or underscore).
func digits(s string) (uint64, error) {
	if s == "" || len(s) > 6 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseUint(s, 10, 32)
}

// String is "Num/Den", as GStreamer writes a fraction.
func (f FPS) String() string { return strconv.Itoa(f.Num) + "/" + strconv.Itoa(f.Den) }

// pixelFormat is a frame format from the fixed set clients may declare.
type pixelFormat int

const (
	formatBGR pixelFormat = iota
	formatRGB
	formatRGBA
	formatI420
	formatJPEG
	formatPNG
)

var formatNames = [...]string{"BGR", "RGB", "RGBA", "I420", "jpeg", "png"}

func (f pixelFormat) String() string { return formatNames[f] }

// word is the format as a description value; formatNames are all words.
func (f pixelFormat) word() pipelines.Value {
	v, _ := pipelines.Word(formatNames[f])
	return v
}

func (f pixelFormat) encoded() bool { return f == formatJPEG || f == formatPNG }

// raw is the format singleframesrc holds frames in: JPEG/PNG are decoded to BGR.
func (f pixelFormat) raw() pixelFormat {
	if f.encoded() {
		return formatBGR
	}
	return f
}

func parseFormat(s string) (pixelFormat, error) {
	for i, n := range formatNames {
		if strings.EqualFold(s, n) {
			return pixelFormat(i), nil
		}
	}
	return 0, fmt.Errorf("%w: frame format %s (want BGR, RGB, RGBA, I420, jpeg or png)", ErrConfig, quote(s))
}
