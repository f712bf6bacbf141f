package stream

import (
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// gatedEncodes is twoEncodes with the lower rendition behind a valve, as
// session.pipeline's ladder has it, and key frames only every 12 s: a switch that
// delivers a key frame sooner took the one requested when the gate opened.
const gatedEncodes = `
videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 ! tee name=t
t. ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=300 threads=1
  ! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au
  ! appsink name=hi sync=false async=false max-buffers=50 drop=true
t. ! valve name=lowgate drop=false ! queue leaky=downstream max-size-buffers=2 ! videoscale ! video/x-raw,width=160,height=120
  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=300 threads=1
  ! video/x-h264,profile=constrained-baseline ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au
  ! appsink name=lo sync=false async=false max-buffers=50 drop=true
audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20
  ! appsink name=aout sync=false async=false max-buffers=50 drop=true
`

// A gated rendition encodes only while a reader takes it: nothing comes out of it
// before, it starts with a key frame when a reader switches to it (also the second
// time, after its encoder sat idle with references from before the gap), and it
// stops when the last reader leaves it.
func TestGatedRenditionEncodesOnlyWhileRead(t *testing.T) {
	p := gsttest.Pipeline(t, gatedEncodes)
	s, err := New(p, Config{Video: []string{"hi", "lo"}, Gates: map[string]string{"lo": "lowgate"},
		Bitrates: map[string]int{"hi": 1_000_000, "lo": 200_000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.Bitrate("lo") != 200_000 || s.Bitrate("") != 1_000_000 {
		t.Fatalf("bitrates %d, %d", s.Bitrate(""), s.Bitrate("lo"))
	}
	units := make(chan *Unit, 1024)
	r, err := s.Subscribe("hi", 0, func(u *Unit) {
		if u.Video {
			units <- u
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	gsttest.Play(t, p)
	next := func() *Unit {
		t.Helper()
		select {
		case u := <-units:
			return u
		case <-time.After(5 * time.Second):
			t.Fatal("no video unit for 5 s")
			return nil
		}
	}
	// lo's appsink counts packets through its track; idle, it has none.
	lo := s.video[1]
	for i := 0; i < 25; i++ {
		next()
	}
	if s.Encoding("lo") || lo.packets.Load() != 0 {
		t.Fatalf("lo encoded %d packets with no reader (gate open %v)", lo.packets.Load(), s.Encoding("lo"))
	}
	for round := 1; round <= 2; round++ {
		if err := r.Switch("lo"); err != nil {
			t.Fatal(err)
		}
		asked := time.Now()
		for u := next(); u.Rendition != "lo"; u = next() {
		}
		took := time.Since(asked)
		if !s.Encoding("lo") {
			t.Fatal("lo delivered with its gate closed")
		}
		t.Logf("round %d: on lo %v after the switch", round, took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Fatalf("round %d: the switch to lo took %v: no key frame on opening", round, took)
		}
		if err := r.Switch("hi"); err != nil {
			t.Fatal(err)
		}
		for u := next(); u.Rendition != "hi"; u = next() {
		}
		if s.Encoding("lo") {
			t.Fatalf("round %d: lo still encoding after its last reader left", round)
		}
		// Encoded frames in lo's appsink from before the close may still come out;
		// after a few, nothing more does.
		n := lo.packets.Load()
		for i := 0; i < 25; i++ {
			next()
		}
		if m := lo.packets.Load(); m > n+4 {
			t.Fatalf("round %d: lo made %d packets after its gate closed", round, m-n)
		}
	}
	// A reader that subscribes to a gated rendition opens it; its Close closes it.
	r2, err := s.Subscribe("lo", 0, func(*Unit) {})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Encoding("lo") {
		t.Fatal("a subscriber of lo left its gate closed")
	}
	r2.Close()
	if s.Encoding("lo") {
		t.Fatal("lo's gate open after its only reader closed")
	}
}
