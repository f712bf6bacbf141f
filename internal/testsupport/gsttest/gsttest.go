// Package gsttest holds what avhost's tests share: GStreamer initialised once with
// avhost's elements registered, and appsink collectors to assert on real buffers.
package gsttest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/avhost/avhost/elements"
)

var once sync.Once

// Init initialises GStreamer and registers avhost's elements, once per process.
func Init() {
	once.Do(func() {
		gst.Init(nil)
		elements.Register()
	})
}

// Buf is what a collector keeps of one buffer.
type Buf struct {
	PTS, Duration time.Duration
	Data          []byte // only when the collector keeps data
}

// Collector records the buffers reaching one appsink.
type Collector struct {
	mu   sync.Mutex
	bufs []Buf
	eos  chan struct{}
	cond *sync.Cond
}

// Collect attaches a collector to the appsink named name in p. keep copies data for
// buffers for which it returns true (nil: none).
func Collect(t testing.TB, p *gst.Pipeline, name string, keep func(i int) bool) *Collector {
	t.Helper()
	e, err := p.GetElementByName(name)
	if err != nil {
		t.Fatalf("no element %q: %v", name, err)
	}
	c := &Collector{eos: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	sink := app.SinkFromElement(e)
	sink.SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			sample := s.PullSample()
			if sample == nil {
				return gst.FlowEOS
			}
			buf := sample.GetBuffer()
			b := Buf{PTS: time.Duration(buf.PresentationTimestamp()), Duration: time.Duration(buf.Duration())}
			c.mu.Lock()
			if keep != nil && keep(len(c.bufs)) {
				b.Data = buf.Bytes()
			}
			c.bufs = append(c.bufs, b)
			c.cond.Broadcast()
			c.mu.Unlock()
			return gst.FlowOK
		},
		EOSFunc: func(*app.Sink) { close(c.eos) },
	})
	return c
}

// Bufs returns a copy of what was collected so far.
func (c *Collector) Bufs() []Buf {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Buf(nil), c.bufs...)
}

// WaitFor blocks until at least n buffers arrived or timeout passed.
func (c *Collector) WaitFor(n int, timeout time.Duration) error {
	stop := time.AfterFunc(timeout, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.bufs) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("got %d buffers, want %d within %v", len(c.bufs), n, timeout)
		}
		c.cond.Wait()
	}
	return nil
}

// EOS is closed when the appsink saw end of stream.
func (c *Collector) EOS() <-chan struct{} { return c.eos }

// Pipeline parses desc, fails the test on error and stops the pipeline at cleanup.
func Pipeline(t testing.TB, desc string) *gst.Pipeline {
	t.Helper()
	Init()
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		t.Fatalf("parse %q: %v", desc, err)
	}
	t.Cleanup(func() { p.SetState(gst.StateNull) })
	return p
}

// Play sets p to PLAYING and fails the test if that fails.
func Play(t testing.TB, p *gst.Pipeline) {
	t.Helper()
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatalf("set PLAYING: %v", err)
	}
}

// WaitEOS waits for EOS on p's bus and fails the test on an error message or timeout.
func WaitEOS(t testing.TB, p *gst.Pipeline, timeout time.Duration) {
	t.Helper()
	msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(timeout), gst.MessageEOS|gst.MessageError)
	switch {
	case msg == nil:
		t.Fatalf("no EOS within %v", timeout)
	case msg.Type() == gst.MessageError:
		t.Fatalf("pipeline error: %v", msg.ParseError())
	}
}
