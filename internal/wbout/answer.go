package wbout

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-webrtc-1.0 gstreamer-sdp-1.0
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>
#include <stdlib.h>
#include <string.h>

static char *err_dup(const char *s) { return g_strdup(s); }

// answer runs webrtcbin's answerer side for offer and returns the complete answer
// (ICE gathering done) or NULL with *err set. It blocks on promises, so it runs on a
// Go goroutine, never on a streaming thread or the main loop.
static char *answer(GstElement *wb, const char *offer, int timeout_ms, char **err) {
	GstSDPMessage *sdp = NULL;
	if (gst_sdp_message_new_from_text(offer, &sdp) != GST_SDP_OK) { *err = err_dup("unparsable SDP offer"); return NULL; }
	GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
	GstPromise *p = gst_promise_new();
	g_signal_emit_by_name(wb, "set-remote-description", desc, p);
	gst_promise_wait(p);
	const GstStructure *r = gst_promise_get_reply(p);
	if (r && gst_structure_has_field(r, "error")) { *err = err_dup("webrtcbin refused the offer"); gst_promise_unref(p); gst_webrtc_session_description_free(desc); return NULL; }
	gst_promise_unref(p);
	gst_webrtc_session_description_free(desc);

	p = gst_promise_new();
	g_signal_emit_by_name(wb, "create-answer", NULL, p);
	gst_promise_wait(p);
	r = gst_promise_get_reply(p);
	GstWebRTCSessionDescription *ans = NULL;
	if (r == NULL || !gst_structure_get(r, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &ans, NULL) || ans == NULL) {
		*err = err_dup("webrtcbin made no answer");
		gst_promise_unref(p);
		return NULL;
	}
	gst_promise_unref(p);
	p = gst_promise_new();
	g_signal_emit_by_name(wb, "set-local-description", ans, p);
	gst_promise_wait(p);
	gst_promise_unref(p);
	gst_webrtc_session_description_free(ans);

	// Non-trickle: wait for ICE gathering so the answer carries every candidate.
	for (int waited = 0; ; waited += 10) {
		GstWebRTCICEGatheringState st;
		g_object_get(wb, "ice-gathering-state", &st, NULL);
		if (st == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE || waited >= timeout_ms) break;
		g_usleep(10000);
	}
	GstWebRTCSessionDescription *local = NULL;
	g_object_get(wb, "local-description", &local, NULL);
	if (local == NULL) { *err = err_dup("webrtcbin has no local description"); return NULL; }
	char *text = gst_sdp_message_as_text(local->sdp);
	gst_webrtc_session_description_free(local);
	return text;
}

// hold blocks buffers (not events) on pad, so caps reach webrtcbin before any data.
static GstPadProbeReturn hold_cb(GstPad *pad, GstPadProbeInfo *info, gpointer d) { return GST_PAD_PROBE_OK; }
static gulong hold(GstPad *pad) {
	return gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST, hold_cb, NULL, NULL);
}
static void release(GstPad *pad, gulong id) { gst_pad_remove_probe(pad, id); }

// sinks_have_caps reports whether every sink pad of webrtcbin has caps.
static gboolean sinks_have_caps(GstElement *wb) {
	gboolean ok = TRUE;
	GstIterator *it = gst_element_iterate_sink_pads(wb);
	GValue v = G_VALUE_INIT;
	while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
		if (!gst_pad_has_current_caps(GST_PAD(g_value_get_object(&v)))) ok = FALSE;
		g_value_reset(&v);
	}
	g_value_unset(&v);
	gst_iterator_free(it);
	return ok;
}

// prefer_peer_caps sets each transceiver's codec-preferences to what its sink pad's
// peer (the branch's capsfilter) offers, so the answer matches the offer's m-lines
// before any caps have flowed. Video transceivers keep do-nack off: 1.22's
// rtprtxsend resends whatever is NACKed, as often as it is NACKed, with no budget
// (a viewer NACKing its last 200 packets every 10 ms got 413× the video's bytes
// back, TestNACKFloodIsNotAmplified), and its answer declares the RTX SSRC in
// "a=ssrc-group:FID 0 <rtx>" but not the media SSRC, so a viewer that maps streams
// by SSRC (Pion's default codecs offer RTX) gets no video track.
static void prefer_peer_caps(GstElement *wb) {
	GstIterator *it = gst_element_iterate_sink_pads(wb);
	GValue v = G_VALUE_INIT;
	while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
		GstPad *pad = GST_PAD(g_value_get_object(&v));
		GObject *trans = NULL;
		g_object_get(pad, "transceiver", &trans, NULL);
		GstCaps *caps = gst_pad_peer_query_caps(pad, NULL);
		if (trans && caps && !gst_caps_is_any(caps) && !gst_caps_is_empty(caps)) {
			g_object_set(trans, "codec-preferences", caps, NULL);
		}
		if (caps) gst_caps_unref(caps);
		if (trans) g_object_unref(trans);
		g_value_reset(&v);
	}
	g_value_unset(&v);
	gst_iterator_free(it);
}

static gboolean add_turn_server(GstElement *wb, const char *uri) {
	gboolean ok = FALSE;
	g_signal_emit_by_name(wb, "add-turn-server", uri, &ok);
	return ok;
}

static void add_candidate(GstElement *wb, guint mline, const char *cand) {
	g_signal_emit_by_name(wb, "add-ice-candidate", mline, cand);
}

static int connection_state(GstElement *wb) {
	GstWebRTCPeerConnectionState st;
	g_object_get(wb, "connection-state", &st, NULL);
	return st;
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/viewers"
)

func answer(wb *gst.Element, offer string, timeout time.Duration) (string, error) {
	co := C.CString(offer)
	defer C.free(unsafe.Pointer(co))
	var cerr *C.char
	ans := C.answer((*C.GstElement)(unsafe.Pointer(wb.Instance())), co, C.int(timeout.Milliseconds()), &cerr)
	if ans == nil {
		msg := C.GoString(cerr)
		C.g_free(C.gpointer(unsafe.Pointer(cerr)))
		return "", fmt.Errorf("%w: %s", viewers.ErrBadOffer, msg)
	}
	defer C.g_free(C.gpointer(unsafe.Pointer(ans)))
	return C.GoString(ans), nil
}

// holdBuffers blocks buffers on pad until the returned release is called.
func holdBuffers(pad *gst.Pad) func() {
	p := (*C.GstPad)(unsafe.Pointer(pad.Instance()))
	id := C.hold(p)
	return func() { C.release(p, id) }
}

// waitCaps waits until every webrtcbin sink pad has caps, up to timeout.
func waitCaps(wb *gst.Element, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if C.sinks_have_caps((*C.GstElement)(unsafe.Pointer(wb.Instance()))) != 0 {
			return true
		}
	}
	return false
}

// preferPeerCaps sets the transceivers' codec preferences from the branch's caps.
func preferPeerCaps(wb *gst.Element) {
	C.prefer_peer_caps((*C.GstElement)(unsafe.Pointer(wb.Instance())))
}

// addTURNServer hands webrtcbin a TURN server URI (iceURIs); false if it refused it.
func addTURNServer(wb *gst.Element, uri string) bool {
	c := C.CString(uri)
	defer C.free(unsafe.Pointer(c))
	return C.add_turn_server((*C.GstElement)(unsafe.Pointer(wb.Instance())), c) != 0
}

func addCandidate(wb *gst.Element, mline uint, cand string) {
	c := C.CString(cand)
	defer C.free(unsafe.Pointer(c))
	C.add_candidate((*C.GstElement)(unsafe.Pointer(wb.Instance())), C.guint(mline), c)
}

// failed reports whether webrtcbin's peer connection failed or closed.
func failed(wb *gst.Element) bool {
	st := C.connection_state((*C.GstElement)(unsafe.Pointer(wb.Instance())))
	return st == C.GST_WEBRTC_PEER_CONNECTION_STATE_FAILED || st == C.GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED
}

// connected reports whether webrtcbin's peer connection is up (ICE and DTLS).
func connected(wb *gst.Element) bool {
	st := C.connection_state((*C.GstElement)(unsafe.Pointer(wb.Instance())))
	return st == C.GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED
}
