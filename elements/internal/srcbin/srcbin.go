// Package srcbin is what avhost's Go source elements share: a GstBin holding one
// appsrc behind a ghost "src" pad, and a push loop that runs from READY→PAUSED to
// PAUSED→READY. In live mode the loop waits on the pipeline clock until each buffer's
// running time and then pushes it; in non-live mode it pushes as fast as downstream
// takes buffers (appsrc blocks when its small queue is full). Timestamps never come
// from the clock: the loop only decides when to push.
//
// Lock order: Bin.mu, then the timeline's own lock. Bin.mu is never held while waiting
// on the clock or pushing.
package srcbin

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/gstpush"
)

// Producer is the element-specific half of the loop.
type Producer interface {
	// Start builds the element's timeline from its properties and returns the caps.
	Start() (*gst.Caps, error)
	// NextPTS is the running time of the next buffer.
	NextPTS() time.Duration
	// SeekTo skips to the first buffer at or after running time t (live start).
	SeekTo(t time.Duration)
	// Push produces and pushes the next buffer.
	Push(src *gstpush.AppSrc) error
	// Unblock makes a Push that waits for data return, and later ones not wait: the
	// loop is stopping. Start re-arms the wait.
	Unblock()
	// Stop is called when the loop has ended.
	Stop()
}

// Bin is embedded by avhost's source elements.
type Bin struct {
	Self     *gst.Element // the element itself (no extra reference: it owns us)
	appsrc   *gst.Element
	src      *gstpush.AppSrc
	waiter   *gstpush.Waiter
	producer Producer

	mu       sync.Mutex
	cond     *sync.Cond
	live     bool
	latency  time.Duration
	ahead    time.Duration // buffers are pushed this long before their running time
	numBufs  int64         // -1: unlimited
	playing  bool
	stopping bool
	done     chan struct{}
	endAt    atomic.Int64 // running time at which to end the stream; -1: never
}

// Init is called from the element's Constructed: it creates the appsrc and ghost pad.
func (b *Bin) Init(self *glib.Object, p Producer) {
	b.Self = gst.ToElement(self)
	b.producer = p
	b.live = true
	b.numBufs = -1
	b.endAt.Store(-1)
	b.cond = sync.NewCond(&b.mu)
	appsrc, err := gst.NewElementWithName("appsrc", "appsrc")
	if err != nil {
		panic(fmt.Sprintf("srcbin: appsrc is missing (gstreamer1.0-plugins-base): %v", err))
	}
	b.appsrc = appsrc
	b.src = gstpush.New(appsrc)
	bin := gst.ToGstBin(self)
	if err := bin.Add(appsrc); err != nil {
		panic(err)
	}
	ghost := gst.NewGhostPad("src", appsrc.GetStaticPad("src"))
	b.Self.AddPad(ghost.Pad)
}

// SetLive sets is-live; it takes effect at the next start.
func (b *Bin) SetLive(v bool) { b.mu.Lock(); b.live = v; b.mu.Unlock() }

// Live reports is-live.
func (b *Bin) Live() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.live }

// SetNumBuffers sets num-buffers (-1: unlimited).
func (b *Bin) SetNumBuffers(n int64) { b.mu.Lock(); b.numBufs = n; b.mu.Unlock() }

// NumBuffers returns num-buffers.
func (b *Bin) NumBuffers() int64 { b.mu.Lock(); defer b.mu.Unlock(); return b.numBufs }

// SetLatency sets the latency the appsrc reports in live mode (one buffer's duration:
// a buffer for [t, t+d) is pushed at t, like a capture source).
func (b *Bin) SetLatency(d time.Duration) { b.mu.Lock(); b.latency = d; b.mu.Unlock() }

// SetAhead makes live mode push each buffer d before its running time (the
// timestamps stay as they are): an encoder downstream that holds a lookahead back
// (Opus: 6.5 ms) then has it when the buffer is due, and its output leaves on time
// instead of the lookahead late. It takes effect at the next start.
func (b *Bin) SetAhead(d time.Duration) { b.mu.Lock(); b.ahead = d; b.mu.Unlock() }

// Ahead returns what SetAhead set.
func (b *Bin) Ahead() time.Duration { b.mu.Lock(); defer b.mu.Unlock(); return b.ahead }

// Started reports whether the loop runs (caps and timeline are fixed).
func (b *Bin) Started() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.done != nil }

// RunningTime is the element's running time now, false before PLAYING.
func (b *Bin) RunningTime() (time.Duration, bool) { return b.src.RunningTime() }

// ChangeState is the element's ChangeState: it starts and stops the loop.
func (b *Bin) ChangeState(self *gst.Element, t gst.StateChange) gst.StateChangeReturn {
	switch t {
	case gst.StateChangeReadyToPaused:
		if err := b.configure(); err != nil {
			self.ErrorMessage(gst.DomainCore, gst.CoreErrorNegotiation, err.Error(), err.Error()) // go-gst v1.4.0 posts debug as the text
			return gst.StateChangeFailure
		}
	case gst.StateChangePlayingToPaused:
		b.mu.Lock()
		b.playing = false
		b.mu.Unlock()
		if b.waiter != nil {
			b.waiter.Stop()
		}
	case gst.StateChangePausedToReady:
		b.mu.Lock()
		b.stopping = true
		b.cond.Broadcast()
		b.mu.Unlock()
		if b.waiter != nil {
			b.waiter.Stop()
		}
		b.producer.Unblock()
	}
	ret := self.ParentChangeState(t)
	switch t {
	case gst.StateChangeReadyToPaused:
		if ret != gst.StateChangeFailure {
			b.startLoop()
		}
	case gst.StateChangePausedToPlaying:
		b.mu.Lock()
		b.playing = true
		b.cond.Broadcast()
		b.mu.Unlock()
	case gst.StateChangePausedToReady:
		b.stopLoop() // appsrc is flushing now, so a blocked push has returned
	}
	return ret
}

func (b *Bin) configure() error {
	caps, err := b.producer.Start()
	if err != nil {
		return err
	}
	b.mu.Lock()
	live, lat := b.live, b.latency
	b.mu.Unlock()
	// appsrc: format=time, is-live explicit, every buffer timestamped by us; a small
	// blocking queue so non-live runs are paced by downstream and live pushes never pile up.
	// gst_util_set_object_arg parses every value as gst-launch would, enums included.
	b.appsrc.SetArg("format", "time")
	b.appsrc.SetArg("stream-type", "stream")
	for k, v := range map[string]string{
		"is-live":      fmt.Sprint(live),
		"do-timestamp": "false",
		"block":        "true",
		"max-bytes":    "0",
		"max-buffers":  "2",
	} {
		b.appsrc.SetArg(k, v)
	}
	if live {
		b.appsrc.SetArg("min-latency", fmt.Sprint(int64(lat)))
	}
	if err := b.appsrc.SetProperty("caps", caps); err != nil {
		return fmt.Errorf("srcbin: appsrc caps: %w", err)
	}
	return nil
}

func (b *Bin) startLoop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopping, b.playing = false, false
	b.waiter = gstpush.NewWaiter()
	b.done = make(chan struct{})
	go b.loop(b.waiter, b.done, b.live, b.numBufs)
}

func (b *Bin) stopLoop() {
	b.mu.Lock()
	done, w := b.done, b.waiter
	b.mu.Unlock()
	if done == nil {
		return
	}
	<-done
	w.Free()
	b.mu.Lock()
	b.done, b.waiter = nil, nil
	b.mu.Unlock()
	b.producer.Stop()
}

// waitPlaying blocks until PLAYING (true) or stopping (false).
func (b *Bin) waitPlaying(w *gstpush.Waiter) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.playing && !b.stopping {
		b.cond.Wait()
	}
	if b.stopping {
		return false
	}
	w.Reset()
	return true
}

func (b *Bin) loop(w *gstpush.Waiter, done chan struct{}, live bool, numBufs int64) {
	defer close(done)
	ahead := b.Ahead()
	first := true
	for n := int64(0); numBufs < 0 || n < numBufs; {
		if live {
			if !b.waitPlaying(w) {
				return
			}
			if first {
				if rt, ok := b.src.RunningTime(); ok {
					b.producer.SeekTo(rt)
				}
				first = false
			}
			switch err := w.Wait(b.src, max(0, b.producer.NextPTS()-ahead)); {
			case errors.Is(err, gstpush.ErrStopped), errors.Is(err, gstpush.ErrNoClock):
				continue // paused or stopping: waitPlaying decides
			}
		} else {
			b.mu.Lock()
			stop := b.stopping
			b.mu.Unlock()
			if stop {
				return
			}
		}
		if end := b.endAt.Load(); end >= 0 && b.producer.NextPTS() >= time.Duration(end) {
			break
		}
		if err := b.producer.Push(b.src); err != nil {
			if !errors.Is(err, gstpush.ErrFlushing) && !errors.Is(err, gstpush.ErrEOS) {
				b.Self.ErrorMessage(gst.DomainStream, gst.StreamErrorFailed, err.Error(), err.Error())
			}
			return
		}
		n++
	}
	_ = b.src.EndOfStream()
}

// EndAt ends the stream with EOS before the first buffer at or after running time t:
// how a file-driven run finishes both streams at the same point of the timeline.
func (b *Bin) EndAt(t time.Duration) { b.endAt.Store(int64(t)) }
