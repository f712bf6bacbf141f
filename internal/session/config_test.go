package session

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// injection is row 1 of issue 10: an fps that, pasted into the description, adds a
// filesrc and a filesink that copy a file.
const injection = "25/1 format=BGR ! fakesink filesrc location=/etc/hostname ! filesink location=/tmp/x singleframesrc name=v2 framerate=25/1"

func TestParseFPS(t *testing.T) {
	good := map[string]FPS{"25": {25, 1}, "25/1": {25, 1}, "30000/1001": {30000, 1001}, "1": {1, 1}, "120": {120, 1}, "120120/1001": {120120, 1001}}
	for s, want := range good {
		t.Run("accepts "+s, func(t *testing.T) {
			got, err := ParseFPS(s)
			if err != nil || got != want {
				t.Fatalf("ParseFPS(%q) = %v, %v; want %v", s, got, err, want)
			}
		})
	}
	bad := []string{"", "0", "121", "1/2", "25/0", "25/1002", "+25", "-25", " 25", "25 ", "25/", "/25", "25/1/1",
		"0x19", "2_5", "25.0", "1e2", "99999999999999999999", "25\x00", injection}
	for _, s := range bad {
		t.Run("refuses "+quote(s), func(t *testing.T) {
			if got, err := ParseFPS(s); !errors.Is(err, ErrConfig) {
				t.Fatalf("ParseFPS(%q) = %v, %v; want ErrConfig", s, got, err)
			}
		})
	}
}

func TestFillRefusesValuesOutsideTheirSets(t *testing.T) {
	cases := []struct {
		name string
		c    Config
	}{
		{"an fps with a pipeline in it", Config{FPS: injection}},
		{"an odd width", Config{Width: 641}},
		{"a side past 3840", Config{Width: 4096, Height: 16}},
		{"more pixels than 4K", Config{Width: 3840, Height: 3840}},
		{"a side under 16", Config{Height: 8}},
		{"a negative size", Config{Width: -512}},
		{"an audio rate Opus cannot take whole chunks of", Config{Rate: 11025}},
		{"three channels", Config{Channels: 3}},
		{"an unknown format", Config{Format: "NV12"}},
		{"a format with more after it", Config{Format: "BGR ! fakesink"}},
		{"an unknown backend", Config{Backend: "gst-launch"}},
		{"a negative frame queue", Config{MaxFrames: -1}},
		{"a byte cap under one frame", Config{MaxQueueBytes: 1000}},
		{"an audio queue over a minute", Config{MaxQueue: 1 << 62}},
		{"a short viewer token", Config{ViewerToken: "secret"}},
		{"a viewer token with a space", Config{ViewerToken: "0123456789 abcdef"}},
		{"a viewer token with a newline", Config{ViewerToken: "0123456789abcdef\r\nX: y"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.c.ID = "a"
			if err := c.c.fill(); !errors.Is(err, ErrConfig) {
				t.Fatalf("fill: %v, want ErrConfig", err)
			}
		})
	}
}

func TestFillCapsTheFrameQueueInBytes(t *testing.T) {
	cases := []struct {
		w, h, frames int
	}{
		{512, 512, 100},  // 4 s at 25 fps: 79 MB, under the byte cap
		{1920, 1080, 43}, // 256 MiB / 6.2 MB
		{3840, 2160, 10},
	}
	for _, c := range cases {
		cfg := Config{ID: "a", Width: c.w, Height: c.h, Format: "jpeg"}
		if err := cfg.fill(); err != nil {
			t.Fatal(err)
		}
		held := int64(cfg.MaxFrames) * int64(cfg.p.frameBytes())
		if cfg.MaxFrames != c.frames || held > DefaultMaxQueueBytes {
			t.Errorf("%dx%d: %d frames (%d bytes), want %d within %d", c.w, c.h, cfg.MaxFrames, held, c.frames, DefaultMaxQueueBytes)
		}
	}
}

func defaultElements(t testing.TB) []element {
	c := Config{ID: "a"}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	desc, err := render(DefaultPipeline, c)
	if err != nil {
		t.Fatal(err)
	}
	els, err := elements(desc)
	if err != nil {
		t.Fatal(err)
	}
	return els
}

// The tokenizer the fuzz target relies on sees what gst_parse_launch builds: the same
// elements for the default description, and the smuggled ones in a description with
// the fps pasted in as text (what the renderer did before issue 10).
func TestElementsAgreesWithGstParseLaunch(t *testing.T) {
	gsttest.Init()
	c := Config{ID: "a"}
	if err := c.fill(); err != nil {
		t.Fatal(err)
	}
	good, err := render(DefaultPipeline, c)
	if err != nil {
		t.Fatal(err)
	}
	pasted, err := render(strings.ReplaceAll(DefaultPipeline, "${FPS}", injection), c)
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range []string{good, pasted} {
		els, err := elements(desc)
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, e := range els {
			ours = append(ours, e.factory)
		}
		p := gsttest.Pipeline(t, desc)
		all, err := p.GetElements()
		if err != nil {
			t.Fatal(err)
		}
		var theirs []string
		for _, e := range all {
			if f := e.GetFactory().GetName(); f != "capsfilter" {
				theirs = append(theirs, f)
			}
		}
		slices.Sort(ours)
		slices.Sort(theirs)
		if !slices.Equal(ours, theirs) {
			t.Fatalf("tokenizer %v, gst_parse_launch %v", ours, theirs)
		}
	}
	if els, _ := elements(pasted); sameElements(els, defaultElements(t)) {
		t.Fatal("the pasted description looks like the template's")
	}
}

// FuzzSessionConfig feeds the parser any parameters a create message can carry: a
// config it accepts renders exactly the template's elements, each with exactly the
// template's properties, and its fps reads back as itself.
func FuzzSessionConfig(f *testing.F) {
	f.Add(injection, "BGR", "pion", 512, 512, 24000, 1, 0, int64(0))
	f.Add("30000/1001", "jpeg", "webrtcbin", 1920, 1080, 48000, 2, 0, int64(0))
	f.Add("25!fakesink", "png", "", 3840, 2160, 8000, 2, 7, int64(1<<20))
	f.Add("120", "i420 ", "pion ", 16, 16, 44100, 1, 1, int64(-1))
	want := defaultElements(f)
	f.Fuzz(func(t *testing.T, fps, format, backend string, w, h, rate, ch, frames int, qbytes int64) {
		c := Config{ID: "f", FPS: fps, Format: format, Backend: backend, Width: w, Height: h, Rate: rate,
			Channels: ch, MaxFrames: frames, MaxQueueBytes: qbytes}
		if err := c.fill(); err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("refused without ErrConfig: %v", err)
			}
			return
		}
		desc, err := render(DefaultPipeline, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := elements(desc)
		if err != nil {
			t.Fatalf("%v in %s", err, desc)
		}
		if !sameElements(got, want) {
			t.Fatalf("elements %v, template's %v", got, want)
		}
		if r, err := ParseFPS(c.FPS); err != nil || r != c.FrameRate() {
			t.Fatalf("fps %q reads back as %v, %v; parsed %v", c.FPS, r, err, c.FrameRate())
		}
		if c.MaxFrames < 1 || int64(c.MaxFrames)*int64(c.p.frameBytes()) > c.MaxQueueBytes {
			t.Fatalf("%d frames of %d bytes over the %d-byte cap", c.MaxFrames, c.p.frameBytes(), c.MaxQueueBytes)
		}
	})
}
