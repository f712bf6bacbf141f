package stream

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <string.h>

// pull takes the next sample within timeout and returns a reference to its buffer
// (the sample itself is released at once), or NULL with *eos set at end of stream.
// *rt is the buffer's running time: encoders move PTS (x264enc by 1000 h) and say so
// in the segment, so PTS alone is not on the pipeline's timeline.
static GstBuffer *pull(GstElement *sink, GstClockTime timeout, gboolean *eos, GstClockTime *rt) {
	GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), timeout);
	if (s == NULL) { *eos = gst_app_sink_is_eos(GST_APP_SINK(sink)); return NULL; }
	GstBuffer *b = gst_buffer_ref(gst_sample_get_buffer(s));
	const GstSegment *seg = gst_sample_get_segment(s);
	*rt = seg ? gst_segment_to_running_time(seg, GST_FORMAT_TIME, GST_BUFFER_PTS(b)) : GST_BUFFER_PTS(b);
	gst_sample_unref(s);
	return b;
}

static gsize buf_size(GstBuffer *b) { return gst_buffer_get_size(b); }
static gboolean buf_delta(GstBuffer *b) { return GST_BUFFER_FLAG_IS_SET(b, GST_BUFFER_FLAG_DELTA_UNIT); }

// running_time is e's running time now, or NONE without a clock (not PLAYING).
static GstClockTime running_time(GstElement *e) {
	GstClock *c = gst_element_get_clock(e);
	if (c == NULL) return GST_CLOCK_TIME_NONE;
	GstClockTime now = gst_clock_get_time(c), base = gst_element_get_base_time(e);
	gst_object_unref(c);
	return now > base ? now - base : 0;
}

static gboolean request_key_unit(GstElement *sink) {
	GstPad *pad = gst_element_get_static_pad(sink, "sink");
	if (pad == NULL) return FALSE;
	gboolean ok = gst_pad_push_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
	gst_object_unref(pad);
	return ok;
}
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// sink pulls encoded samples from an appsink without Go finalizers: each sample is
// copied out once, into memory of its own, and released before pull returns.
type sink struct {
	el *C.GstElement
}

// newSink wraps the appsink e; the caller keeps e alive (the pipeline does).
func newSink(e *gst.Element) *sink {
	return &sink{el: (*C.GstElement)(unsafe.Pointer(e.Instance()))}
}

// sample is one pulled buffer. data is the sample's own copy: the stream hands it
// out to every reader, so nothing reuses it.
type sample struct {
	data  []byte
	pts   time.Duration // running time, from the buffer's PTS and segment
	delta bool          // not a key frame
}

// pull waits up to timeout for a sample. ok is false on timeout; eos is true at end
// of stream or when the sink stopped.
func (s *sink) pull(timeout time.Duration) (smp sample, ok, eos bool) {
	var e C.gboolean
	var rt C.GstClockTime
	b := C.pull(s.el, C.GstClockTime(timeout), &e, &rt)
	if b == nil {
		return smp, false, e != 0
	}
	defer C.gst_buffer_unref(b)
	data := make([]byte, int(C.buf_size(b)))
	if len(data) > 0 {
		C.gst_buffer_extract(b, 0, C.gpointer(unsafe.Pointer(&data[0])), C.gsize(len(data)))
	}
	return sample{data: data, pts: time.Duration(rt), delta: C.buf_delta(b) != 0}, true, false
}

// requestKeyUnit asks the encoder upstream of the sink for a key frame.
func (s *sink) requestKeyUnit() bool { return C.request_key_unit(s.el) != 0 }

// runningTime is the pipeline's running time now; false without a clock.
func (s *sink) runningTime() (time.Duration, bool) {
	rt := C.running_time(s.el)
	if rt == C.GstClockTime(gst.ClockTimeNone) {
		return 0, false
	}
	return time.Duration(rt), true
}
