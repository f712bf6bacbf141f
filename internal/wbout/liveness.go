package wbout

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>
#include <string.h>

static GstPadProbeReturn rx_cb(GstPad *pad, GstPadProbeInfo *info, gpointer last) {
	__atomic_store_n((gint64 *)last, g_get_monotonic_time(), __ATOMIC_RELAXED);
	return GST_PAD_PROBE_OK;
}

// watch_rx stamps *last with the time of every packet that reaches one of wb's nicesrc
// elements. A probe on a streaming thread, in C: no Go runs per packet.
static gint64 *watch_rx(GstElement *wb, int *found) {
	gint64 *last = g_new(gint64, 1);
	*last = g_get_monotonic_time();
	*found = 0;
	GstIterator *it = gst_bin_iterate_recurse(GST_BIN(wb));
	GValue v = G_VALUE_INIT;
	while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
		GstElement *e = GST_ELEMENT(g_value_get_object(&v));
		GstElementFactory *f = gst_element_get_factory(e);
		if (f && strcmp(GST_OBJECT_NAME(f), "nicesrc") == 0) {
			GstPad *pad = gst_element_get_static_pad(e, "src");
			if (pad) {
				gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, rx_cb, last, NULL);
				gst_object_unref(pad);
				(*found)++;
			}
		}
		g_value_reset(&v);
	}
	g_value_unset(&v);
	gst_iterator_free(it);
	return last;
}

static gint64 rx_age_us(gint64 *last) { return g_get_monotonic_time() - __atomic_load_n(last, __ATOMIC_RELAXED); }
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// silentFor is how long a viewer may send nothing before it counts as vanished. A
// browser sends RTCP (receiver reports, feedback) every second or faster; libnice in
// GStreamer 1.22 has no ICE consent freshness, so webrtcbin itself would keep a dead
// peer "connected" forever.
const silentFor = 10 * time.Second

// rxWatch records when a viewer's webrtcbin last received anything from the peer.
type rxWatch struct{ last *C.gint64 }

// watchRx starts watching wb, which must have its transports (after the answer). It
// returns a zero rxWatch when wb has no nicesrc to watch.
func watchRx(wb *gst.Element) rxWatch {
	var found C.int
	last := C.watch_rx((*C.GstElement)(unsafe.Pointer(wb.Instance())), &found)
	if found == 0 {
		C.g_free(C.gpointer(last))
		return rxWatch{}
	}
	return rxWatch{last: last}
}

// silent reports whether the peer has sent nothing for silentFor.
func (w rxWatch) silent() bool {
	return w.last != nil && time.Duration(C.rx_age_us(w.last))*time.Microsecond > silentFor
}

// free releases the stamp; only once the branch is in NULL, when no probe can run.
func (w rxWatch) free() {
	if w.last != nil {
		C.g_free(C.gpointer(w.last))
	}
}
