package stream

import (
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// encodes is a live test picture and tone, encoded as a session encodes them.
const encodes = `
videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1
  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 threads=1
  ! video/x-h264,profile=constrained-baseline
  ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au
  ! appsink name=vout sync=false async=false max-buffers=50 drop=true
audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2
  ! opusenc frame-size=20 ! appsink name=aout sync=false async=false max-buffers=50 drop=true
`

// testDuration is how long the subscriber test runs: 10 s, or AVHOST_STREAM_SECONDS.
func testDuration(t *testing.T) time.Duration {
	if s := os.Getenv("AVHOST_STREAM_SECONDS"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n <= 0 {
			t.Fatalf("AVHOST_STREAM_SECONDS=%q is not a positive number", s)
		}
		return time.Duration(n * float64(time.Second))
	}
	return 10 * time.Second
}

// collector keeps what one reader was given, in order.
type collector struct {
	mu    sync.Mutex
	units []*Unit
	delay time.Duration // a slow consumer's work per unit
}

func (c *collector) add(u *Unit) {
	if c.delay > 0 {
		time.Sleep(c.delay) // the work of a slow consumer, not synchronisation
	}
	c.mu.Lock()
	c.units = append(c.units, u)
	c.mu.Unlock()
}

func ofTrack(units []*Unit, video bool) []*Unit {
	var out []*Unit
	for _, u := range units {
		if u.Video == video {
			out = append(out, u)
		}
	}
	return out
}

func (c *collector) got() []*Unit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Unit(nil), c.units...)
}

// gaps counts the sequence-number gaps of one track in units, and checks that after
// each gap the next video unit is a key frame.
func gaps(t *testing.T, name string, units []*Unit, video bool) (n int, count int) {
	t.Helper()
	var last uint16
	seen, afterGap := false, false
	for _, u := range units {
		if u.Video != video {
			continue
		}
		count++
		for _, p := range u.Packets {
			if seen && p.SequenceNumber != last+1 {
				n++
				afterGap = true
			}
			seen, last = true, p.SequenceNumber
		}
		if afterGap && video {
			if !u.Key {
				t.Errorf("%s: video resumed after a gap on a delta frame (seq %d)", name, u.Packets[0].SequenceNumber)
			}
			afterGap = false
		}
	}
	return n, count
}

func TestSlowReaderDropsAndNeverStallsTheOthers(t *testing.T) {
	d := testDuration(t)
	p := gsttest.Pipeline(t, encodes)
	s, err := New(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	fast1, fast2 := &collector{}, &collector{}
	// 20 units a second against the ≈75 the stream makes.
	slow := &collector{delay: 50 * time.Millisecond}
	var readers []*Reader
	for _, c := range []*collector{fast1, fast2, slow} {
		queue := 0
		if c == slow {
			queue = 8
		}
		r, err := s.Subscribe("", queue, c.add)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		readers = append(readers, r)
	}
	gsttest.Play(t, p)
	deadline := time.NewTimer(d)
	<-deadline.C
	for _, r := range readers {
		r.Close()
	}

	for i, c := range []*collector{fast1, fast2} {
		units := c.got()
		if drops := readers[i].Drops(); drops != 0 {
			t.Errorf("fast reader %d dropped %d units", i, drops)
		}
		for _, video := range []bool{true, false} {
			g, n := gaps(t, "fast", units, video)
			if g != 0 {
				t.Errorf("fast reader %d: %d sequence gaps (video %v)", i, g, video)
			}
			// 25 frames and 50 Opus packets a second; allow the encoder's start-up.
			want := int(d.Seconds() * 25 / 2)
			if !video {
				want *= 2
			}
			if n < want {
				t.Errorf("fast reader %d got %d units (video %v) in %v, want ≥ %d", i, n, video, d, want)
			}
		}
	}
	a, b := fast1.got(), fast2.got()
	// Per track, both fast readers got the very same units (shared, not copied per
	// reader) in the same order. Across tracks the order may differ: the video and
	// audio pumps hand out concurrently. The readers were closed one after the other,
	// so the later one may hold a unit or two more at the end.
	for _, video := range []bool{true, false} {
		ta, tb := ofTrack(a, video), ofTrack(b, video)
		if len(ta) > len(tb) {
			ta, tb = tb, ta
		}
		if len(tb)-len(ta) > 2 {
			t.Errorf("the fast readers got %d and %d units (video %v)", len(ta), len(tb), video)
		}
		for i := range ta {
			if ta[i] != tb[i] {
				t.Fatalf("unit %d (video %v) differs between the fast readers", i, video)
			}
		}
	}
	units := slow.got()
	_, vn := gaps(t, "slow", units, true)
	_, an := gaps(t, "slow", units, false)
	t.Logf("%v: fast readers got %d units each; the slow one %d (video %d, audio %d), dropped %d",
		d, len(a), len(units), vn, an, readers[2].Drops())
	if readers[2].Drops() == 0 {
		t.Error("the slow reader dropped nothing")
	}
	if vn == 0 || an == 0 {
		t.Errorf("the slow reader got %d video and %d audio units, want some of each", vn, an)
	}
}

// twoEncodes is one picture encoded twice (renditions hi and lo) with key frames only
// every 12 s, so a switch that happens sooner took a requested key frame.
const twoEncodes = `
videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 ! tee name=t
t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=300 threads=1
  ! video/x-h264,profile=constrained-baseline ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au
  ! appsink name=hi sync=false async=false max-buffers=50 drop=true
t. ! queue ! videoscale ! video/x-raw,width=160,height=120
  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=300 threads=1
  ! video/x-h264,profile=constrained-baseline ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au
  ! appsink name=lo sync=false async=false max-buffers=50 drop=true
audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20
  ! appsink name=aout sync=false async=false max-buffers=50 drop=true
`

func TestReaderSwitchesRenditionAtAKeyFrame(t *testing.T) {
	p := gsttest.Pipeline(t, twoEncodes)
	s, err := New(p, Config{Video: []string{"hi", "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if got := s.Renditions(); len(got) != 2 || got[0] != "hi" || got[1] != "lo" {
		t.Fatalf("renditions %v", got)
	}
	if _, err := s.Subscribe("mid", 0, func(*Unit) {}); err == nil {
		t.Fatal("subscribed to a rendition that does not exist")
	}
	units := make(chan *Unit, 1024)
	r, err := s.Subscribe("hi", 0, func(u *Unit) { units <- u })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	stay := &collector{}
	r2, err := s.Subscribe("", 0, stay.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r2.Close)
	gsttest.Play(t, p)

	next := func() *Unit {
		t.Helper()
		select {
		case u := <-units:
			return u
		case <-time.After(5 * time.Second):
			t.Fatal("no unit for 5 s")
			return nil
		}
	}
	// Past both encoders' first key frame, on to delta frames.
	for seen := 0; seen < 30; {
		if u := next(); u.Video {
			if u.Rendition != "hi" {
				t.Fatalf("a %q unit before any switch", u.Rendition)
			}
			seen++
		}
	}
	if err := r.Switch("lo"); err != nil {
		t.Fatal(err)
	}
	asked := time.Now()
	var hiAfter int
	for {
		u := next()
		if !u.Video {
			continue
		}
		if u.Rendition == "hi" {
			hiAfter++ // the old rendition plays on until the new one has a key frame
			continue
		}
		if !u.Key {
			t.Fatalf("the switch took effect on a delta frame")
		}
		break
	}
	if took := time.Since(asked); took > 3*time.Second {
		t.Errorf("switch took %v: the key frame was not requested", took)
	}
	if r.Rendition() != "lo" {
		t.Errorf("reader says rendition %q after the switch", r.Rendition())
	}
	for seen := 0; seen < 10; {
		if u := next(); u.Video {
			if u.Rendition != "lo" {
				t.Fatalf("a %q unit after the switch", u.Rendition)
			}
			seen++
		}
	}
	t.Logf("switched after %d more hi frames, in %v", hiAfter, time.Since(asked))
	r2.Close()
	for _, u := range stay.got() {
		if u.Video && u.Rendition != "hi" {
			t.Fatalf("the reader that did not switch got a %q unit", u.Rendition)
		}
	}
	if err := r.Switch("mid"); err == nil {
		t.Error("switched to a rendition that does not exist")
	}
}

func TestCloseIsIdempotentAndEndsReaders(t *testing.T) {
	p := gsttest.Pipeline(t, encodes)
	s, err := New(p, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	r, err := s.Subscribe("", 0, func(*Unit) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	gsttest.Play(t, p)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no unit")
	}
	s.Close()
	s.Close()
	r.Close() // after the stream's Close: a no-op
	if _, err := s.Subscribe("", 0, func(*Unit) {}); err != ErrClosed {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if _, err := New(p, Config{Video: []string{"nope"}}); err == nil {
		t.Fatal("New found an appsink that is not there")
	}
}
