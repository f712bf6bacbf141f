// Package gstpush is the thin cgo layer between avhost's push loops and appsrc: it
// allocates, fills and pushes buffers in C so that no Go finalizer owns a GstBuffer
// (go-gst issues #40/#198 are memory growth from finalizer-owned buffers), and it waits
// on the pipeline clock so that pacing follows the pipeline's clock, whatever it is.
package gstpush

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <string.h>

static GstFlowReturn push_bytes(GstElement *src, const void *data, gsize size, GstClockTime pts, GstClockTime dur, guint64 offset) {
	GstBuffer *buf = gst_buffer_new_allocate(NULL, size, NULL);
	if (buf == NULL) return GST_FLOW_ERROR;
	gst_buffer_fill(buf, 0, data, size);
	GST_BUFFER_PTS(buf) = pts;
	GST_BUFFER_DURATION(buf) = dur;
	GST_BUFFER_OFFSET(buf) = offset;
	return gst_app_src_push_buffer(GST_APP_SRC(src), buf);
}

static GstBuffer *new_filled(const void *data, gsize size) {
	GstBuffer *buf = gst_buffer_new_allocate(NULL, size, NULL);
	if (buf != NULL) gst_buffer_fill(buf, 0, data, size);
	return buf;
}

// push_ref pushes a shallow copy of held (sharing its memory), so a held frame is
// emitted again and again without copying its pixels.
static GstFlowReturn push_ref(GstElement *src, GstBuffer *held, GstClockTime pts, GstClockTime dur, guint64 offset, gboolean discont) {
	GstBuffer *buf = gst_buffer_copy(held);
	GST_BUFFER_PTS(buf) = pts;
	GST_BUFFER_DTS(buf) = GST_CLOCK_TIME_NONE;
	GST_BUFFER_DURATION(buf) = dur;
	GST_BUFFER_OFFSET(buf) = offset;
	if (discont) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
	return gst_app_src_push_buffer(GST_APP_SRC(src), buf);
}

typedef struct {
	GMutex lock;
	GstClockID id;
	gboolean stopped;
} waiter;

static waiter *waiter_new(void) { waiter *w = g_new0(waiter, 1); g_mutex_init(&w->lock); return w; }
static void waiter_free(waiter *w) { g_mutex_clear(&w->lock); g_free(w); }
static void waiter_reset(waiter *w) { g_mutex_lock(&w->lock); w->stopped = FALSE; g_mutex_unlock(&w->lock); }

static void waiter_stop(waiter *w) {
	g_mutex_lock(&w->lock);
	w->stopped = TRUE;
	if (w->id) gst_clock_id_unschedule(w->id);
	g_mutex_unlock(&w->lock);
}

// running_time returns the element's current running time, or NONE without a clock.
static GstClockTime running_time(GstElement *e) {
	GstClock *c = gst_element_get_clock(e);
	if (c == NULL) return GST_CLOCK_TIME_NONE;
	GstClockTime now = gst_clock_get_time(c), base = gst_element_get_base_time(e);
	gst_object_unref(c);
	return now > base ? now - base : 0;
}

// waiter_wait blocks until running time rt on e's clock. 0: reached, 1: stopped,
// 2: no clock (not PLAYING).
static int waiter_wait(waiter *w, GstElement *e, GstClockTime rt) {
	GstClock *c = gst_element_get_clock(e);
	if (c == NULL) return 2;
	GstClockID id = gst_clock_new_single_shot_id(c, gst_element_get_base_time(e) + rt);
	gst_object_unref(c);
	g_mutex_lock(&w->lock);
	if (w->stopped) { g_mutex_unlock(&w->lock); gst_clock_id_unref(id); return 1; }
	w->id = id;
	g_mutex_unlock(&w->lock);
	GstClockReturn r = gst_clock_id_wait(id, NULL);
	g_mutex_lock(&w->lock);
	w->id = NULL;
	int stopped = w->stopped;
	g_mutex_unlock(&w->lock);
	gst_clock_id_unref(id);
	if (stopped || r == GST_CLOCK_UNSCHEDULED) return 1;
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

var (
	// ErrFlushing is returned while appsrc is flushing or stopping: expected on a
	// state change down or a seek; the push loop ends.
	ErrFlushing = errors.New("gstpush: appsrc is flushing")
	// ErrEOS is returned after end of stream: the source is closed.
	ErrEOS = errors.New("gstpush: appsrc is at end of stream")
	// ErrStopped is returned by Wait after Stop.
	ErrStopped = errors.New("gstpush: stopped")
	// ErrNoClock is returned by Wait when the element has no clock (not PLAYING).
	ErrNoClock = errors.New("gstpush: element has no clock")
)

func flowErr(r C.GstFlowReturn) error {
	switch gst.FlowReturn(r) {
	case gst.FlowOK:
		return nil
	case gst.FlowFlushing:
		return ErrFlushing
	case gst.FlowEOS:
		return ErrEOS
	}
	return fmt.Errorf("gstpush: push failed: %s", gst.FlowReturn(r))
}

func ct(d time.Duration) C.GstClockTime {
	if d < 0 {
		return C.GstClockTime(gst.ClockTimeNone)
	}
	return C.GstClockTime(d)
}

// AppSrc pushes into one appsrc element.
type AppSrc struct {
	el *C.GstElement
}

// New wraps the appsrc e. The caller keeps e alive for as long as it pushes.
func New(e *gst.Element) *AppSrc {
	return &AppSrc{el: (*C.GstElement)(unsafe.Pointer(e.Instance()))}
}

// PushBytes copies data into a new buffer and pushes it.
func (a *AppSrc) PushBytes(data []byte, pts, dur time.Duration, offset uint64) error {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	return flowErr(C.push_bytes(a.el, p, C.gsize(len(data)), ct(pts), ct(dur), C.guint64(offset)))
}

// PushS16 pushes interleaved s16 samples (no Go allocation).
func (a *AppSrc) PushS16(s []int16, pts, dur time.Duration, offset uint64) error {
	return flowErr(C.push_bytes(a.el, unsafe.Pointer(&s[0]), C.gsize(2*len(s)), ct(pts), ct(dur), C.guint64(offset)))
}

// PushHeld pushes a new buffer sharing held's memory with the given timing.
func (a *AppSrc) PushHeld(held *Held, pts, dur time.Duration, offset uint64, discont bool) error {
	d := C.gboolean(0)
	if discont {
		d = 1
	}
	return flowErr(C.push_ref(a.el, held.b, ct(pts), ct(dur), C.guint64(offset), d))
}

// EndOfStream queues EOS after the buffers pushed so far.
func (a *AppSrc) EndOfStream() error {
	return flowErr(C.gst_app_src_end_of_stream((*C.GstAppSrc)(unsafe.Pointer(a.el))))
}

// RunningTime is the element's running time now, false when it has no clock.
func (a *AppSrc) RunningTime() (time.Duration, bool) {
	rt := C.running_time(a.el)
	if rt == C.GstClockTime(gst.ClockTimeNone) {
		return 0, false
	}
	return time.Duration(rt), true
}

// Held is one reference to a GstBuffer owned by Go code, released explicitly.
type Held struct {
	b *C.GstBuffer
}

// NewHeld copies data into a new buffer: the one copy a frame gets.
func NewHeld(data []byte) (*Held, error) {
	if len(data) == 0 {
		return nil, errors.New("gstpush: empty frame")
	}
	b := C.new_filled(unsafe.Pointer(&data[0]), C.gsize(len(data)))
	if b == nil {
		return nil, errors.New("gstpush: buffer allocation failed")
	}
	return &Held{b: b}, nil
}

// Release drops the reference; nil-safe.
func (h *Held) Release() {
	if h != nil && h.b != nil {
		C.gst_buffer_unref(h.b)
		h.b = nil
	}
}

// Size is the buffer's size in bytes.
func (h *Held) Size() int { return int(C.gst_buffer_get_size(h.b)) }

// Waiter waits on an element's pipeline clock and can be woken from another goroutine.
type Waiter struct {
	w *C.waiter
}

// NewWaiter returns a Waiter; Free it when done.
func NewWaiter() *Waiter { return &Waiter{w: C.waiter_new()} }

// Free releases the waiter.
func (w *Waiter) Free() { C.waiter_free(w.w) }

// Reset re-arms a stopped waiter.
func (w *Waiter) Reset() { C.waiter_reset(w.w) }

// Stop wakes a pending Wait and makes later ones return ErrStopped until Reset.
func (w *Waiter) Stop() { C.waiter_stop(w.w) }

// Wait blocks until running time rt of a's element.
func (w *Waiter) Wait(a *AppSrc, rt time.Duration) error {
	switch C.waiter_wait(w.w, a.el, ct(rt)) {
	case 0:
		return nil
	case 1:
		return ErrStopped
	}
	return ErrNoClock
}

// Ref returns a new reference to the same buffer.
func (h *Held) Ref() *Held { return &Held{b: C.gst_buffer_ref(h.b)} }
