// Package pipelines is the one home of avhost's pipeline descriptions: every
// *.pipeline file here is embedded, written in gst-launch syntax with # comments and
// ${NAME} placeholders, and rendered by Render from typed values only.
//
// There is one placeholder syntax, ${NAME} (and ${NAME:-default}), because it is what
// users of `avhost run` write in their own files. There are no conditionals: a
// variant is a separate file (a fragment), and code composes fragments, as the
// per-viewer webrtcbin branch is added to a session's pipeline. So each file stands
// for one fixed set of elements that a test can check whole, whatever values fill it.
package pipelines

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
)

//go:embed *.pipeline
var files embed.FS

// The descriptions code builds on, embedded by name so a missing file fails the build.
var (
	//go:embed session.pipeline
	session string
	//go:embed webrtcbin.pipeline
	webrtcbin string
)

// Element names that code looks up in a rendered pipeline (GetElementByName). A
// description that code reads must name its elements so.
const (
	// Video is a session's or a run's singleframesrc.
	Video = "video"
	// Audio is a session's or a run's pcmslicesrc.
	Audio = "audio"
	// VideoSink and AudioSink are the appsinks of the encoded H.264 and Opus streams
	// that avhost's own outputs (Pion, RTSP, WHIP) read.
	VideoSink = "vout"
	AudioSink = "aout"
	// VideoSinkMid and VideoSinkLow are the appsinks of session.pipeline's lower
	// renditions (Ladder), and VideoGateMid and VideoGateLow the valves in front of
	// their encoders, closed while no reader takes the rendition.
	VideoSinkMid = "vout1"
	VideoSinkLow = "vout2"
	VideoGateMid = "vgate1"
	VideoGateLow = "vgate2"
	// AudioEncoder is session.pipeline's opusenc, whose expected loss (in-band FEC)
	// the stream sets from viewers' receiver reports.
	AudioEncoder = "aenc"
	// VideoTee and AudioTee carry the encoded streams to webrtcbin branches.
	VideoTee = "vtee"
	AudioTee = "atee"
	// BranchVideoQueue, BranchAudioQueue and BranchWebRTC are the elements of the
	// per-viewer webrtcbin branch (webrtcbin.pipeline).
	BranchVideoQueue = "vq"
	BranchAudioQueue = "aq"
	BranchWebRTC     = "wb"
)

// Rendition is one rung of session.pipeline's encode ladder: the appsink it ends
// in, the valve that gates its encode ("" for one that always encodes), its frame
// size as a divisor of the session's and its bitrate.
type Rendition struct {
	Sink, Gate string
	Scale      int // the frame is 1/Scale of the session's width and height
	Kbps       int // x264enc bitrate, kbit/s
}

// Ladder is session.pipeline's encode ladder, best first. The top is today's encode
// (full size, 1.5 Mbit/s). Each step down halves the sides (a quarter of the
// pixels) and cuts the bitrate about 3×, the spacing simulcast uses (libwebrtc's
// 3-layer default is ¼, ½ and full size at roughly 1:3:8): close enough that a
// viewer losing a rung still sees a usable picture, far enough apart that each rung
// is worth its encode. The rates are chosen so that a rung with 64 kbit/s of Opus,
// its FEC and RTP/UDP/IP overhead fits the bottlenecks viewers meet: 400 kbit/s
// fits a 600 kbit/s link, 150 kbit/s a 300 kbit/s one.
var Ladder = []Rendition{
	{Sink: VideoSink, Scale: 1, Kbps: 1500},
	{Sink: VideoSinkMid, Gate: VideoGateMid, Scale: 2, Kbps: 400},
	{Sink: VideoSinkLow, Gate: VideoGateLow, Scale: 4, Kbps: 150},
}

// Session is the text of session.pipeline: a session's sources, its one encode and
// the tees and appsinks its outputs take it from.
func Session() string { return session }

// WebrtcbinBranch is the text of webrtcbin.pipeline: the branch added per viewer of a
// webrtcbin session behind VideoTee and AudioTee.
func WebrtcbinBranch() string { return webrtcbin }

// Text returns the embedded file name.pipeline as written, comments included.
func Text(name string) (string, bool) {
	b, err := files.ReadFile(name + ".pipeline")
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Names lists the embedded descriptions, without the .pipeline suffix.
func Names() []string {
	m, _ := fs.Glob(files, "*.pipeline") // the pattern is valid
	for i, f := range m {
		m[i] = strings.TrimSuffix(f, ".pipeline")
	}
	return m
}

// Value is what a ${NAME} becomes. Only the constructors below make one, each from a
// typed value or after checking every byte, so no text reaches a description that
// could end a property value and start another element or property.
type Value struct{ s string }

func (v Value) String() string { return v.s }

// Int is a decimal integer.
func Int[T ~int | ~int64](n T) Value { return Value{strconv.FormatInt(int64(n), 10)} }

// Fraction is "num/den", as GStreamer writes a fraction (framerate=25/1).
func Fraction(num, den int) Value { return Value{strconv.Itoa(num) + "/" + strconv.Itoa(den)} }

// Bool is true or false.
func Bool(b bool) Value { return Value{strconv.FormatBool(b)} }

// Word is a name from a fixed set, such as a pixel format: 1 to 32 letters, digits,
// '-' or '_'.
func Word(s string) (Value, error) {
	if s == "" || len(s) > 32 || !only(s, "-_") {
		return Value{}, fmt.Errorf("pipelines: %q is not a word (letters, digits, - and _)", s)
	}
	return Value{s}, nil
}

// Location is a file path or URL for a location property: only the characters of
// paths and URLs that gst_parse_launch reads as one property value, so no space, "!",
// quote, escape or bracket ends the value and starts new elements.
func Location(s string) (Value, error) {
	for _, c := range []byte(s) {
		if !alnum(c) && strings.IndexByte(locationPunct, c) < 0 {
			return Value{}, fmt.Errorf("pipelines: location %q: %q is not allowed (letters, digits and %s only)", s, c, locationPunct)
		}
	}
	return Value{s}, nil
}

const locationPunct = "._-/:@%+,=?&~"

func only(s, punct string) bool {
	for _, c := range []byte(s) {
		if !alnum(c) && strings.IndexByte(punct, c) < 0 {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// Vars are the values of a description's ${NAME}s.
type Vars map[string]Value

var varRE = regexp.MustCompile(`\$\{([A-Z_]+)(?::-([^}]*))?\}`)

// Render turns the text of a pipeline file into one gst-launch description: comments
// and blank lines go, and ${NAME} and ${NAME:-default} take their values from vars.
// A name without a value or default is an error, so a typo does not reach the parser
// as a literal. The defaults are the file's own text (the operator's), never a value.
func Render(text string, vars Vars) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(Description(text), func(m string) string {
		g := varRE.FindStringSubmatch(m)
		if v, ok := vars[g[1]]; ok && v.s != "" {
			return v.s
		}
		if strings.Contains(m, ":-") {
			return g[2]
		}
		missing = append(missing, g[1])
		return m
	})
	if len(missing) > 0 {
		return "", &MissingError{Names: missing}
	}
	return out, nil
}

// MissingError is Render's error for ${NAME}s with neither a value nor a default.
type MissingError struct{ Names []string }

func (e *MissingError) Error() string {
	return "pipelines: no value for " + strings.Join(e.Names, ", ")
}
