package singleframesrc

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/internal/srcbin"
	"github.com/avhost/avhost/internal/gstpush"
	"github.com/avhost/avhost/internal/timeline"
)

// Video is the element's timeline of held GstBuffers.
type Video = timeline.Video[*gstpush.Held]

// Src is the element's Go half. Get it from a pipeline's element with FromElement.
type Src struct {
	srcbin.Bin

	mu       sync.Mutex // guards the settings and video below
	width    int
	height   int
	fpsN     int
	fpsD     int
	format   string
	maxQueue int
	overflow timeline.Overflow
	r        *resources // GStreamer buffers the element holds
	offset   uint64
	badProp  error // the last property set that failed, reported at start
}

// New is called by the type system for each instance.
func (s *Src) New() glib.GoObjectSubclass {
	return &Src{width: 512, height: 512, fpsN: 25, fpsD: 1, format: "BGR", maxQueue: 64, r: &resources{}}
}

// resources are the buffers and pool an element holds. They live in their own object
// so a Go finalizer can release them: Src itself sits in a reference cycle (the bin's
// producer is Src), and Go does not finalize cycles.
type resources struct {
	video *Video
	pool  *gstpush.Pool
}

func (r *resources) free() {
	if r.video != nil {
		r.video.Close()
	}
	if r.pool != nil {
		r.pool.Free()
	}
}

// Constructed builds the bin's appsrc.
func (s *Src) Constructed(self *glib.Object) {
	s.Bin.Init(self, s)
	// go-glib drops its pointer to s when the GObject is finalized; the GStreamer
	// buffers s holds (idle, queued frames, the pool) go with it.
	runtime.SetFinalizer(s.r, (*resources).free)
}

// FromElement returns the Go half of a singleframesrc element.
func FromElement(e *gst.Element) (*Src, error) {
	if s, ok := glib.FromObjectUnsafePrivate(e.Unsafe()).(*Src); ok {
		return s, nil
	}
	return nil, ErrNotElement
}

// ChangeState starts and stops the push loop.
func (s *Src) ChangeState(self *gst.Element, t gst.StateChange) gst.StateChangeReturn {
	ret := s.Bin.ChangeState(self, t)
	if t == gst.StateChangeReadyToNull {
		// The pool holds a GstPoll (two fds): give it back now rather than whenever
		// the element is finalized. Frames still held stay valid; it is re-made on use.
		s.mu.Lock()
		if s.r.pool != nil {
			s.r.pool.Free()
			s.r.pool = nil
		}
		s.mu.Unlock()
	}
	return ret
}

// SetProperty implements GObject properties.
// A bad value is kept as an error that fails the start: during gst-launch parsing
// there is no bus yet to post it on.
func (s *Src) SetProperty(self *glib.Object, id uint, value *glib.Value) {
	if err := s.setProperty(properties[id].Name(), value); err != nil {
		s.mu.Lock()
		if s.badProp == nil {
			s.badProp = err
		}
		s.mu.Unlock()
	}
}

func (s *Src) setProperty(name string, value *glib.Value) error {
	v, _ := value.GoValue()
	if name == "is-live" {
		s.SetLive(v.(bool))
		return nil
	}
	if name == "num-buffers" {
		s.SetNumBuffers(v.(int64))
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r.video != nil && name != "max-queue-frames" && name != "overflow" {
		return fmt.Errorf("%w: %s", ErrStarted, name)
	}
	switch name {
	case "width":
		s.width = v.(int)
	case "height":
		s.height = v.(int)
	case "framerate":
		n, d, err := parseFraction(v.(string))
		if err != nil {
			return err
		}
		s.fpsN, s.fpsD = n, d
	case "format":
		f := strings.ToUpper(v.(string))
		if _, ok := formats[f]; !ok {
			return fmt.Errorf("singleframesrc: format %q (want BGR, RGB, RGBA or I420)", v)
		}
		s.format = f
	case "max-queue-frames":
		s.maxQueue = v.(int)
	case "overflow":
		o, err := parseOverflow(v.(string))
		if err != nil {
			return err
		}
		s.overflow = o
	}
	return nil
}

func parseOverflow(v string) (timeline.Overflow, error) {
	switch v {
	case "block":
		return timeline.Block, nil
	case "reject":
		return timeline.Reject, nil
	}
	return 0, fmt.Errorf("overflow %q (want block or reject)", v)
}

// GetProperty implements GObject properties.
func (s *Src) GetProperty(self *glib.Object, id uint) *glib.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v any
	switch properties[id].Name() {
	case "width":
		v = s.width
	case "height":
		v = s.height
	case "framerate":
		v = fmt.Sprintf("%d/%d", s.fpsN, s.fpsD)
	case "format":
		v = s.format
	case "is-live":
		v = s.Live()
	case "num-buffers":
		v = s.NumBuffers()
	case "max-queue-frames":
		v = s.maxQueue
	case "overflow":
		v = [...]string{"block", "reject"}[s.overflow]
	}
	val, err := glib.GValue(v)
	if err != nil {
		return nil
	}
	return val
}

// FrameSize is the byte size a frame must have.
func (s *Src) FrameSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return frameSize(s.format, s.width, s.height)
}

// Timeline returns the element's video timeline, creating it from the properties on
// first use (after which width, height, framerate and format are fixed).
func (s *Src) Timeline() (*Video, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timelineLocked()
}

func (s *Src) timelineLocked() (*Video, error) {
	if s.r.video != nil {
		return s.r.video, nil
	}
	idle, err := gstpush.NewHeld(blackFrame(s.format, s.width, s.height))
	if err != nil {
		return nil, err
	}
	v, err := timeline.NewVideo(timeline.VideoConfig[*gstpush.Held]{
		FpsN: s.fpsN, FpsD: s.fpsD, MaxQueue: s.maxQueue, Overflow: s.overflow,
		Release: (*gstpush.Held).Release,
		Ref:     (*gstpush.Held).Ref,
	}, idle)
	if err != nil {
		idle.Release()
		return nil, err
	}
	s.r.video = v
	return v, nil
}

// NewFrame checks data against the configured size and copies it into a buffer: the
// one copy a frame gets on its way out.
func (s *Src) NewFrame(data []byte) (*gstpush.Held, error) {
	if want := s.FrameSize(); len(data) != want {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrFrameSize, len(data), want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.timelineLocked(); err != nil {
		return nil, err
	}
	if s.r.pool == nil {
		p, err := gstpush.NewPool(frameSize(s.format, s.width, s.height))
		if err != nil {
			return nil, err
		}
		s.r.pool = p
	}
	return s.r.pool.Held(data)
}

// SetIdle replaces the frame shown when no utterance plays.
func (s *Src) SetIdle(data []byte) error {
	v, err := s.Timeline()
	if err != nil {
		return err
	}
	f, err := s.NewFrame(data)
	if err != nil {
		return err
	}
	v.SetIdle(f)
	return nil
}

// Begin shows u's frames from u.T0 on; frames is their count, or -1 if not known.
func (s *Src) Begin(u *timeline.Utterance, frames int64) error {
	v, err := s.Timeline()
	if err != nil {
		return err
	}
	v.Begin(u, frames)
	return nil
}

// QueueFrame hands over frame i of u, to be shown at u.T0 + i/fps. A full queue waits
// or refuses as the overflow property says.
func (s *Src) QueueFrame(ctx context.Context, u *timeline.Utterance, i int64, data []byte) error {
	v, f, err := s.frameFor(data)
	if err != nil {
		return err
	}
	return v.Queue(ctx, u, i, f)
}

// OfferFrame is QueueFrame that never waits, whatever the overflow property says: a
// full queue refuses the frame with timeline.ErrQueueFull.
func (s *Src) OfferFrame(u *timeline.Utterance, i int64, data []byte) error {
	v, f, err := s.frameFor(data)
	if err != nil {
		return err
	}
	return v.Offer(u, i, f)
}

// frameFor returns the timeline and data copied into a frame buffer of the pool
// (unbounded, so taking one never waits).
func (s *Src) frameFor(data []byte) (*Video, *gstpush.Held, error) {
	v, err := s.Timeline()
	if err != nil {
		return nil, nil, err
	}
	f, err := s.NewFrame(data)
	return v, f, err
}

// Interrupt returns to the idle frame from the next frame on.
func (s *Src) Interrupt() {
	if v, err := s.Timeline(); err == nil {
		v.Interrupt()
	}
}

// Start implements srcbin.Producer.
func (s *Src) Start() (*gst.Caps, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.badProp != nil {
		return nil, s.badProp
	}
	v, err := s.timelineLocked()
	if err != nil {
		return nil, err
	}
	s.offset = 0
	// Non-live rendering waits for the producer instead of filling in.
	v.SetWaitForFrames(!s.Live())
	v.Rearm() // a restart after Unblock waits for data again
	s.SetLatency(v.FramePTS(1))
	return gst.NewCapsFromString(fmt.Sprintf(
		"video/x-raw,format=%s,width=%d,height=%d,framerate=%d/%d,pixel-aspect-ratio=1/1,colorimetry=(string)sRGB",
		s.format, s.width, s.height, s.fpsN, s.fpsD)), nil
}

func (s *Src) vid() *Video {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.video
}

// NextPTS implements srcbin.Producer.
func (s *Src) NextPTS() time.Duration { return s.vid().NextPTS() }

// SeekTo implements srcbin.Producer.
func (s *Src) SeekTo(t time.Duration) { s.vid().SeekTo(t) }

// Push implements srcbin.Producer. It also trims the frame pool: the push loop runs
// at the frame rate even when no frame comes, so memory of a burst of frames goes
// back to the system once the session is quiet (gstpush.PoolLinger).
func (s *Src) Push(src *gstpush.AppSrc) error {
	s.mu.Lock()
	if s.r.pool != nil {
		s.r.pool.Trim()
	}
	s.mu.Unlock()
	f := s.vid().Next()
	defer f.Data.Release()
	err := src.PushHeld(f.Data, f.PTS, f.Duration, s.offset, false)
	s.offset++
	return err
}

// Unblock implements srcbin.Producer.
func (s *Src) Unblock() { s.vid().Unblock() }

// Stop implements srcbin.Producer: a restarted element starts at running time 0 again.
func (s *Src) Stop() { s.vid().Reset() }

// Stats returns the timeline's counters.
func (s *Src) Stats() timeline.VideoStats {
	if v := s.vid(); v != nil {
		return v.Stats()
	}
	return timeline.VideoStats{}
}
