package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/viewers"
)

// mediaOf finds a session's viewers (whichever backend serves them) and its stream.
type mediaOf func(id string) (viewers.Backend, *stream.Stream, error)

// metricsHandler is GET /metrics. Session ids are labels, and a private session's id
// is not for everyone: a scrape with the host token (Prometheus: `authorization:
// {credentials: TOKEN}` in the scrape config) sees every session; an anonymous scrape
// sees public sessions only, and private ones just in the avhost_sessions count.
func metricsHandler(m *session.Manager, outputs mediaOf, isHost func(*http.Request) bool) http.Handler {
	goc, proc := collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
	public, all := prometheus.NewRegistry(), prometheus.NewRegistry()
	public.MustRegister(newCollector(m, outputs, false), goc, proc)
	all.MustRegister(newCollector(m, outputs, true), goc, proc)
	pub, full := promhttp.HandlerFor(public, promhttp.HandlerOpts{}), promhttp.HandlerFor(all, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHost(r) {
			full.ServeHTTP(w, r)
			return
		}
		pub.ServeHTTP(w, r)
	})
}

// collector reads every session's counters at scrape time, so nothing is counted
// twice on the per-chunk path.
type collector struct {
	sessions *session.Manager
	outputs  mediaOf
	private  bool // label private sessions too (host-token scrapes only)
	descs    map[string]*prometheus.Desc
}

func newCollector(m *session.Manager, outputs mediaOf, private bool) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("avhost_"+name, help, labels, nil)
	}
	return &collector{sessions: m, outputs: outputs, private: private, descs: map[string]*prometheus.Desc{
		"viewers":      d("webrtc_viewers", "WebRTC viewers (Pion or webrtcbin), handshakes in flight included.", "session"),
		"avOffset":     d("webrtc_sender_av_offset_seconds", "Running time of the last audio sample sent minus that of the last video frame sent (encoder delay difference; both are stamped from one clock).", "session"),
		"sessions":     d("sessions", "Live sessions."),
		"chunks":       d("audio_chunks_total", "Audio chunks emitted.", "session"),
		"silent":       d("audio_silent_chunks_total", "Audio chunks with no utterance audio.", "session"),
		"underruns":    d("audio_underruns_total", "Chunks an utterance needed data for and had too little.", "session"),
		"rejected":     d("audio_rejected_total", "Audio writes refused because the queue was full.", "session"),
		"queue":        d("audio_queue_seconds", "Audio queued ahead of playout (received but not yet played).", "session"),
		"frames":       d("video_frames_total", "Video frames emitted.", "session"),
		"late":         d("video_late_frames_total", "Frames that arrived after their time and were dropped.", "session"),
		"held":         d("video_held_frames_total", "Frames repeated because the next was not there in time.", "session"),
		"interrupts":   d("interrupts_total", "Utterances cut by interrupt.", "session"),
		"utterances":   d("utterances_total", "Utterances begun.", "session"),
		"queuedFrames": d("video_queue_frames", "Frames waiting for their time.", "session"),
		"rendition":    d("webrtc_viewer_rendition", "Connected Pion viewers per video rendition being delivered (the ladder's appsink names, best first: vout, vout1, vout2).", "session", "rendition"),
		"encoding":     d("video_renditions_encoding", "Video renditions whose encoder runs: the top one always, a lower one while a viewer takes it.", "session"),
		"estimate":     d("webrtc_viewer_estimate_bits_per_second", "Bandwidth estimates (GCC over transport-wide CC feedback) of the connected Pion viewers that send the feedback, one observation per viewer.", "session"),
		"switches":     d("webrtc_rendition_switches_total", "Rendition switches of the session's Pion viewers, by direction (up, down).", "session", "direction"),
		"nacks":        d("webrtc_nacked_packets_total", "Video packets Pion viewers asked to be resent (RFC 4585 NACK), by result: resent, or why not: too_old (sent over 400 ms ago), over_budget (the viewer's retransmission budget had no room), resent_enough (resent twice already), not_media (padding, or not sent).", "session", "result"),
		"resent":       d("webrtc_resent_bytes_total", "Bytes of video Pion viewers' NACKs let through to be resent (an upper bound: the responder skips a packet it resent within an RTT).", "session"),
		"rtt":          d("webrtc_viewer_rtt_seconds", "Round-trip times of the connected Pion viewers, from their receiver reports (RFC 3550 §6.4.1), one observation per viewer.", "session"),
		"loss":         d("webrtc_viewer_loss_ratio", "Fraction of packets each connected Pion viewer lost in its last receiver report interval, one observation per viewer and track (kind: video, audio) once the viewer reported on it.", "session", "kind"),
		"keyframeRqs":  d("webrtc_keyframe_requests_total", "Key frames Pion viewers asked for (RTCP PLI and FIR).", "session"),
	}}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	list := c.sessions.List()
	ch <- prometheus.MustNewConstMetric(c.descs["sessions"], prometheus.GaugeValue, float64(len(list)))
	for _, s := range list {
		if !c.private && s.Config().ViewerToken != "" {
			continue
		}
		st := s.Stats()
		counter := func(k string, v uint64) {
			ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, float64(v), s.ID)
		}
		gauge := func(k string, v float64) {
			ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v, s.ID)
		}
		counter("chunks", st.Audio.Chunks)
		counter("silent", st.Audio.SilentChunks)
		counter("underruns", st.Audio.Underruns)
		counter("rejected", st.Audio.Rejected)
		gauge("queue", st.LagMS/1000)
		counter("frames", st.Video.Frames)
		counter("late", st.Video.Late)
		counter("held", st.Video.Held)
		counter("interrupts", st.Interrupts)
		counter("utterances", st.Utterances)
		gauge("queuedFrames", float64(st.Video.QueuedNow))
		if vs, st, err := c.outputs(s.ID); err == nil {
			gauge("viewers", float64(vs.Viewers()))
			gauge("avOffset", st.SyncOffset().Seconds())
			c.collectNet(ch, s.ID, vs, st)
		}
	}
}

// estimateBuckets bound the estimate histogram: around the ladder's needs
// (pipelines.Ladder plus audio: ≈0.25, 0.5 and 1.6 Mbit/s), so a scrape shows how
// many viewers could take each rung.
var estimateBuckets = []float64{250e3, 500e3, 1e6, 1.6e6, 2.5e6}

// rttBuckets and lossBuckets bound the path histograms: a LAN, a continent, the far
// side of the world, a bufferbloated link; and the loss that FEC and RED (≤ 2 %),
// NACKs (≤ 5 %) and nothing (beyond) repair.
var (
	rttBuckets  = []float64{0.01, 0.05, 0.1, 0.2, 0.4, 1}
	lossBuckets = []float64{0.005, 0.02, 0.05, 0.1, 0.2}
)

// histogram is a const histogram of observations xs against upper bounds.
func histogram(d *prometheus.Desc, bounds, xs []float64, labels ...string) prometheus.Metric {
	counts := make(map[float64]uint64, len(bounds))
	var sum float64
	for _, x := range xs {
		sum += x
		for _, b := range bounds {
			if x <= b {
				counts[b]++
			}
		}
	}
	return prometheus.MustNewConstHistogram(d, uint64(len(xs)), sum, counts, labels...)
}

// collectNet exports the network figures of a session's Pion viewers, aggregated
// per session: per-viewer labels would grow /metrics with every viewer.
func (c *collector) collectNet(ch chan<- prometheus.Metric, id string, vs viewers.Backend, st *stream.Stream) {
	n := 0
	for _, r := range st.Renditions() {
		if st.Encoding(r) {
			n++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.descs["encoding"], prometheus.GaugeValue, float64(n), id)
	o, ok := vs.(interface{ NetStats() rtcout.NetStats })
	if !ok {
		return // webrtcbin viewers: no estimator on avhost's side
	}
	ns := o.NetStats()
	for _, r := range st.Renditions() {
		ch <- prometheus.MustNewConstMetric(c.descs["rendition"], prometheus.GaugeValue, float64(ns.ByRendition[r]), id, r)
	}
	est := make([]float64, len(ns.Estimates))
	for i, e := range ns.Estimates {
		est[i] = float64(e)
	}
	ch <- histogram(c.descs["estimate"], estimateBuckets, est, id)
	rtt := make([]float64, len(ns.RTTs))
	for i, r := range ns.RTTs {
		rtt[i] = r.Seconds()
	}
	ch <- histogram(c.descs["rtt"], rttBuckets, rtt, id)
	ch <- histogram(c.descs["loss"], lossBuckets, ns.VideoLoss, id, "video")
	ch <- histogram(c.descs["loss"], lossBuckets, ns.AudioLoss, id, "audio")
	ch <- prometheus.MustNewConstMetric(c.descs["keyframeRqs"], prometheus.CounterValue, float64(ns.KeyframeRequests), id)
	ch <- prometheus.MustNewConstMetric(c.descs["switches"], prometheus.CounterValue, float64(ns.Ups), id, "up")
	ch <- prometheus.MustNewConstMetric(c.descs["switches"], prometheus.CounterValue, float64(ns.Downs), id, "down")
	ch <- prometheus.MustNewConstMetric(c.descs["nacks"], prometheus.CounterValue, float64(ns.NACKed-ns.Refused), id, "resent")
	for i, n := range ns.RefusedBy {
		ch <- prometheus.MustNewConstMetric(c.descs["nacks"], prometheus.CounterValue, float64(n), id, rtcout.RefusalNames[i])
	}
	ch <- prometheus.MustNewConstMetric(c.descs["resent"], prometheus.CounterValue, float64(ns.ResentBytes), id)
}
