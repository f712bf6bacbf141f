package pipelines_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/pipelines"
)

func word(t *testing.T, s string) pipelines.Value {
	t.Helper()
	v, err := pipelines.Word(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sample has a value for every ${NAME} the shipped files use, as the session
// (internal/session/params.go) and avhost run (internal/runner) fill them.
func sample(t *testing.T) pipelines.Vars {
	loc, err := pipelines.Location(t.TempDir() + "/out.mkv")
	if err != nil {
		t.Fatal(err)
	}
	return pipelines.Vars{
		"WIDTH": pipelines.Int(512), "HEIGHT": pipelines.Int(512), "FPS": pipelines.Fraction(25, 1),
		"FORMAT": word(t, "BGR"), "MAX_FRAMES": pipelines.Int(100), "KEY_INT": pipelines.Int(50),
		"RATE": pipelines.Int(24000), "CHANNELS": pipelines.Int(1), "MAX_QUEUE_MS": pipelines.Int(int64(20000)),
		"OUT": loc, "LIVE": pipelines.Bool(true),
		"TOP_KBPS": pipelines.Int(1500), "MID_WIDTH": pipelines.Int(256), "MID_HEIGHT": pipelines.Int(256),
		"MID_KBPS": pipelines.Int(400), "LOW_WIDTH": pipelines.Int(128), "LOW_HEIGHT": pipelines.Int(128),
		"LOW_KBPS": pipelines.Int(150), "OPUS_LOSS": pipelines.Int(10),
	}
}

// Every shipped file renders and parses with avhost's elements, and names the
// elements code looks up by the exported constants.
func TestEveryFileParsesAndNamesWhatCodeLooksUp(t *testing.T) {
	gsttest.Init()
	want := map[string][]string{
		"session": {pipelines.Video, pipelines.Audio, pipelines.VideoSink, pipelines.AudioSink, pipelines.VideoTee, pipelines.AudioTee,
			pipelines.VideoSinkMid, pipelines.VideoSinkLow, pipelines.VideoGateMid, pipelines.VideoGateLow},
		"webrtcbin": {pipelines.BranchVideoQueue, pipelines.BranchAudioQueue, pipelines.BranchWebRTC},
		"rtsp":      {pipelines.VideoSink, pipelines.AudioSink},
	}
	names := pipelines.Names()
	for n := range want {
		if !slices.Contains(names, n) {
			t.Fatalf("%s.pipeline is not embedded (have %v)", n, names)
		}
	}
	for _, n := range names {
		t.Run(n+" parses", func(t *testing.T) {
			text, ok := pipelines.Text(n)
			if !ok {
				t.Fatal("listed but not readable")
			}
			desc, err := pipelines.Render(text, sample(t))
			if err != nil {
				t.Fatal(err)
			}
			// The webrtcbin branch is a fragment with open ends (its queues' sinks);
			// the others are whole pipelines.
			bin, err := gst.NewBinFromString(desc, false)
			if err != nil {
				t.Fatalf("%v in %s", err, desc)
			}
			defer bin.SetState(gst.StateNull)
			for _, e := range want[n] {
				if _, err := bin.GetElementByName(e); err != nil {
					t.Errorf("no element named %q", e)
				}
			}
		})
	}
}

func TestSessionAndBranchAreTheirFiles(t *testing.T) {
	for name, text := range map[string]string{"session": pipelines.Session(), "webrtcbin": pipelines.WebrtcbinBranch()} {
		if f, _ := pipelines.Text(name); f != text || text == "" {
			t.Errorf("%s: the accessor and the embedded file differ", name)
		}
	}
}

func TestRender(t *testing.T) {
	cases := []struct {
		name, text, want string
		vars             pipelines.Vars
	}{
		{"drops comments and joins lines", "# c\nfakesrc\n\n  ! fakesink # not a comment mid-line\n", "fakesrc ! fakesink # not a comment mid-line", nil},
		{"fills a name", "videotestsrc num-buffers=${N}", "videotestsrc num-buffers=3", pipelines.Vars{"N": pipelines.Int(3)}},
		{"takes a default when no value is given", "x location=${OUT:-a.mkv}", "x location=a.mkv", nil},
		{"prefers the value to the default", "x location=${OUT:-a.mkv}", "x location=b.mkv", pipelines.Vars{"OUT": mustLocation(t, "b.mkv")}},
		{"takes the default for an empty location", "x location=${OUT:-a.mkv}", "x location=a.mkv", pipelines.Vars{"OUT": mustLocation(t, "")}},
		{"writes a fraction as GStreamer does", "x framerate=${FPS}", "x framerate=30000/1001", pipelines.Vars{"FPS": pipelines.Fraction(30000, 1001)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := pipelines.Render(c.text, c.vars)
			if err != nil || got != c.want {
				t.Fatalf("Render = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	t.Run("names every missing value", func(t *testing.T) {
		_, err := pipelines.Render("x a=${A} b=${B} c=${C:-1}", pipelines.Vars{"B": pipelines.Int(1)})
		var m *pipelines.MissingError
		if !errors.As(err, &m) || !slices.Equal(m.Names, []string{"A"}) {
			t.Fatalf("got %v, want A missing", err)
		}
	})
	t.Run("treats an unconstructed value as missing", func(t *testing.T) {
		if _, err := pipelines.Render("x a=${A}", pipelines.Vars{"A": {}}); err == nil {
			t.Fatal("rendered an empty value")
		}
	})
}

func mustLocation(t *testing.T, s string) pipelines.Value {
	v, err := pipelines.Location(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Text that would end a property value and start elements is refused by the
// constructors, so it never becomes a Value.
func TestValuesRefuseText(t *testing.T) {
	for _, s := range []string{"", "BGR ! fakesink", "a b", "x=y", "a.b", strings.Repeat("a", 33), "BGR\n"} {
		if _, err := pipelines.Word(s); err == nil {
			t.Errorf("Word(%q) accepted", s)
		}
	}
	for _, s := range []string{"a.mkv ! filesink location=/tmp/x", `"a.mkv"`, "a\\ b", "a\tb", "a(b)", "a;b", "a'b", "a\nb"} {
		if _, err := pipelines.Location(s); err == nil {
			t.Errorf("Location(%q) accepted", s)
		}
	}
	for _, s := range []string{"BGR", "I420", "jpeg", "x-raw_2"} {
		word(t, s)
	}
	mustLocation(t, "rtsp://user:p%40ss@host:8554/a?x=1&y=2,z~+")
}
