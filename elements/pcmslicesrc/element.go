package pcmslicesrc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/internal/srcbin"
	"github.com/avhost/avhost/internal/gstpush"
	"github.com/avhost/avhost/internal/timeline"
)

var (
	// ErrStarted is returned for a format property set once the timeline exists.
	ErrStarted = errors.New("pcmslicesrc: rate, channels and chunk-ms are fixed once started")
	// ErrNotElement is returned by FromElement for an element of another kind.
	ErrNotElement = errors.New("pcmslicesrc: element is not a pcmslicesrc")
)

// Src is the element's Go half. Get it from a pipeline's element with FromElement.
type Src struct {
	srcbin.Bin

	mu      sync.Mutex // guards cfg and audio
	cfg     timeline.AudioConfig
	audio   *timeline.Audio
	chunk   []int16 // reused for every chunk: no allocation per chunk
	offset  uint64
	badProp error // the last property set that failed, reported at start
}

// New is called by the type system for each instance.
func (s *Src) New() glib.GoObjectSubclass {
	return &Src{cfg: timeline.AudioConfig{Rate: 24000, Channels: 1, Chunk: 20 * time.Millisecond,
		MaxQueue: 30 * time.Second, Fade: 5 * time.Millisecond}}
}

// Constructed builds the bin's appsrc.
func (s *Src) Constructed(self *glib.Object) { s.Bin.Init(self, s) }

// FromElement returns the Go half of a pcmslicesrc element.
func FromElement(e *gst.Element) (*Src, error) {
	if s, ok := glib.FromObjectUnsafePrivate(e.Unsafe()).(*Src); ok {
		return s, nil
	}
	return nil, ErrNotElement
}

// ChangeState starts and stops the push loop.
func (s *Src) ChangeState(self *gst.Element, t gst.StateChange) gst.StateChangeReturn {
	return s.Bin.ChangeState(self, t)
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
	switch name {
	case "is-live":
		s.SetLive(v.(bool))
		return nil
	case "num-buffers":
		s.SetNumBuffers(v.(int64))
		return nil
	case "lookahead-us":
		s.SetAhead(time.Duration(v.(int)) * time.Microsecond)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audio != nil {
		return fmt.Errorf("%w: %s", ErrStarted, name)
	}
	ms := func(n any) time.Duration { return time.Duration(n.(int)) * time.Millisecond }
	switch name {
	case "rate":
		s.cfg.Rate = v.(int)
	case "channels":
		s.cfg.Channels = v.(int)
	case "chunk-ms":
		s.cfg.Chunk = ms(v)
	case "max-queue-ms":
		s.cfg.MaxQueue = ms(v)
	case "fade-ms":
		s.cfg.Fade = ms(v)
	case "overflow":
		switch v.(string) {
		case "block":
			s.cfg.Overflow = timeline.Block
		case "reject":
			s.cfg.Overflow = timeline.Reject
		default:
			return fmt.Errorf("pcmslicesrc: overflow %q (want block or reject)", v)
		}
	}
	return nil
}

// GetProperty implements GObject properties.
func (s *Src) GetProperty(self *glib.Object, id uint) *glib.Value {
	s.mu.Lock()
	c := s.cfg
	s.mu.Unlock()
	var v any
	switch properties[id].Name() {
	case "rate":
		v = c.Rate
	case "channels":
		v = c.Channels
	case "chunk-ms":
		v = int(c.Chunk / time.Millisecond)
	case "max-queue-ms":
		v = int(c.MaxQueue / time.Millisecond)
	case "fade-ms":
		v = int(c.Fade / time.Millisecond)
	case "overflow":
		v = [...]string{"block", "reject"}[c.Overflow]
	case "is-live":
		v = s.Live()
	case "num-buffers":
		v = s.NumBuffers()
	case "lookahead-us":
		v = int(s.Ahead() / time.Microsecond)
	}
	val, err := glib.GValue(v)
	if err != nil {
		return nil
	}
	return val
}

// Timeline returns the element's audio timeline, creating it from the properties on
// first use (after which rate, channels and chunk-ms are fixed).
func (s *Src) Timeline() (*timeline.Audio, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timelineLocked()
}

func (s *Src) timelineLocked() (*timeline.Audio, error) {
	if s.audio != nil {
		return s.audio, nil
	}
	a, err := timeline.NewAudio(s.cfg)
	if err != nil {
		return nil, err
	}
	s.audio = a
	s.cfg = a.Config()
	s.chunk = make([]int16, a.ChunkSamples()*s.cfg.Channels)
	return a, nil
}

// Start implements srcbin.Producer.
func (s *Src) Start() (*gst.Caps, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.badProp != nil {
		return nil, s.badProp
	}
	a, err := s.timelineLocked()
	if err != nil {
		return nil, err
	}
	s.offset = 0
	// Non-live rendering waits for the producer instead of filling in.
	a.SetWaitForData(!s.Live())
	a.Rearm() // a restart after Unblock waits for data again
	s.SetLatency(s.cfg.Chunk)
	return gst.NewCapsFromString(fmt.Sprintf(
		"audio/x-raw,format=S16LE,layout=interleaved,rate=%d,channels=%d", s.cfg.Rate, s.cfg.Channels)), nil
}

func (s *Src) tl() *timeline.Audio {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.audio
}

// NextPTS implements srcbin.Producer.
func (s *Src) NextPTS() time.Duration { return s.tl().NextPTS() }

// SeekTo implements srcbin.Producer.
func (s *Src) SeekTo(t time.Duration) { s.tl().SeekTo(t) }

// Push implements srcbin.Producer: one chunk, no allocation, no lock of its own
// (audio, cfg and chunk are fixed once started).
func (s *Src) Push(src *gstpush.AppSrc) error {
	a := s.audio
	pts := a.Fill(s.chunk)
	err := src.PushS16(s.chunk, pts, s.cfg.Chunk, s.offset)
	s.offset += uint64(a.ChunkSamples())
	return err
}

// Unblock implements srcbin.Producer.
func (s *Src) Unblock() { s.tl().Unblock() }

// Stop implements srcbin.Producer: a restarted element starts at running time 0 again.
func (s *Src) Stop() { s.tl().Reset() }

// ChunkDuration is the length of one emitted chunk.
func (s *Src) ChunkDuration() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Chunk
}

// Stats returns the timeline's counters.
func (s *Src) Stats() timeline.AudioStats {
	if a := s.tl(); a != nil {
		return a.Stats()
	}
	return timeline.AudioStats{}
}
