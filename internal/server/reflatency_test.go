package server_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/refsend"
	"github.com/avhost/avhost/internal/testsupport/testenv"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// latencySource is one sender under measurement: how its RTP timestamps map to media
// time on the wall clock, and the page's session name for it.
type latencySource struct {
	name, session string
	media         func(video bool, rtp uint32) time.Time
	rx            *webrtctest.Receiver // a Pion viewer on loopback: when packets leave
}

// phaseFigures is what one phase (one source, one page load) measured.
type phaseFigures struct {
	flash      []float64 // media time → display of each flash (rVFC), ms
	frame      []float64 // the same for every frame
	held       []float64 // arrival (rVFC receiveTime) → display, every frame
	arrive     []float64 // media time → arrival of a frame's last packet
	av         []float64 // beep heard minus flash displayed
	jb, target map[string]float64
}

// pageFrame is one frame the page's rVFC collector saw, wall ms.
type pageFrame struct {
	RTP     uint32  `json:"rtp"`
	Recv    float64 `json:"recv"`
	Display float64 `json:"display"`
}

type jbStats struct {
	Delay, Target, Min, N float64
}

// TestLatencyAgainstAReferenceSender compares media time → display in Chromium for
// avhost and for a reference sender in the same run (refsend: a Pion sender writing
// pre-encoded H.264 and Opus of the same flash/beep pattern in lock-step with the
// clock). The same page plays both, alternately, without its fine sync (?finesync=0:
// a plain <video> as far as timing goes). For each it reports media → display of the
// flashes and of every frame (rVFC expectedDisplayTime against the frame's RTP time on
// the sender's media clock), how long Chrome held each frame between its arrival and
// display (rVFC receiveTime), the jitter buffers' delay and target per track
// (getStats), and when packets arrive at a Pion viewer against their media time (the
// senders' departure; loopback adds little). avhost's median must be within 10 ms of
// the reference's. AVHOST_REF_ROUNDS sets the rounds (default 2; a round measures
// each source once for 8 s).
func TestLatencyAgainstAReferenceSender(t *testing.T) {
	testenv.RequireBrowser(t)
	rounds, _ := strconv.Atoi(os.Getenv("AVHOST_REF_ROUNDS"))
	if rounds == 0 {
		rounds = 2
	}
	const settle, window = 4 * time.Second, 8 * time.Second
	total := time.Duration(rounds) * 2 * (settle + window + 3*time.Second)
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	ref, err := refsend.New(t.TempDir(), 2*int(total/time.Second/2+2), 128, 128, 25)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ref.Close)
	// One origin for both: the page's WHEP POST to /whep/ref goes to the reference,
	// everything else to avhost.
	up, _ := url.Parse(h.web)
	proxy := httputil.NewSingleHostReverseProxy(up)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/whep/ref" || strings.HasPrefix(r.URL.Path, "/whep/ref/") {
			ref.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(site.Close)

	out, _ := h.srv.Stream("demo")
	sess, _ := h.srv.Sessions.Get("demo")
	pctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	if _, err := demo.PlayPulses(pctx, sess, 1, int(total/time.Second)+10); err != nil {
		t.Fatal(err)
	}
	avhost := &latencySource{name: "avhost", session: "demo", media: func(video bool, ts uint32) time.Time {
		clock := map[bool]float64{true: 90000, false: 48000}[video]
		return out.WallTime(time.Duration(float64(int32(ts-out.RTPTime(video, 0))) / clock * float64(time.Second)))
	}}
	reference := &latencySource{name: "reference", session: "ref", media: ref.MediaTime}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range []*latencySource{avhost, reference} {
		if s.rx, err = webrtctest.JoinWHEP(ctx, site.URL+"/whep/"+s.session); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.rx.Close)
	}

	bctx, _ := browserKill(t, total+60*time.Second)
	all := map[string][]phaseFigures{}
	for r := 0; r < rounds; r++ {
		for _, s := range []*latencySource{avhost, reference} {
			f := measurePhase(t, bctx, site.URL, s, settle, window)
			all[s.name] = append(all[s.name], f)
			t.Logf("round %d, %s: media → display median %.1f ms (flashes %.1f, n=%d); held arrival → display %.1f ms; arrival %.1f ms after media time; jitter buffer video %.1f (target %.1f), audio %.1f (target %.1f) ms; beep − flash %+.1f ms",
				r+1, s.name, med(f.frame), med(f.flash), len(f.flash), med(f.held), med(f.arrive),
				f.jb["video"], f.target["video"], f.jb["audio"], f.target["audio"], med(f.av))
		}
	}
	merged := map[string]phaseFigures{}
	for _, s := range []*latencySource{avhost, reference} {
		var m phaseFigures
		m.jb, m.target = map[string]float64{}, map[string]float64{}
		for _, f := range all[s.name] {
			m.flash, m.frame, m.held = append(m.flash, f.flash...), append(m.frame, f.frame...), append(m.held, f.held...)
			m.arrive, m.av = append(m.arrive, f.arrive...), append(m.av, f.av...)
			for k := range f.jb {
				m.jb[k] += f.jb[k] / float64(len(all[s.name]))
				m.target[k] += f.target[k] / float64(len(all[s.name]))
			}
		}
		merged[s.name] = m
		dep := departures(s)
		t.Logf("%s: media → display median %.1f ms (p5 %.1f, p95 %.1f; flashes %.1f over %d); held arrival → display %.1f ms (p95 %.1f); jitter buffer video %.1f ms (target %.1f), audio %.1f ms (target %.1f); beep − flash %+.1f ms; %s",
			s.name, med(m.frame), pct(m.frame, 0.05), pct(m.frame, 0.95), med(m.flash), len(m.flash), med(m.held), pct(m.held, 0.95),
			m.jb["video"], m.target["video"], m.jb["audio"], m.target["audio"], med(m.av), dep)
	}
	late := ref.Late(true)
	var lv []float64
	for _, d := range late {
		lv = append(lv, float64(d)/1e6)
	}
	t.Logf("reference's own writes: video %.2f ms after due (median, p95 %.2f)", med(lv), pct(lv, 0.95))
	a, b := med(merged["avhost"].frame), med(merged["reference"].frame)
	t.Logf("media time → display: avhost %.1f ms, reference %.1f ms (avhost %+.1f ms)", a, b, a-b)
	if len(merged["avhost"].flash) < rounds*4 || len(merged["reference"].flash) < rounds*4 {
		t.Fatalf("too few flashes: avhost %d, reference %d", len(merged["avhost"].flash), len(merged["reference"].flash))
	}
	if a-b > 10 {
		t.Fatalf("avhost's media time → display is %.1f ms over the reference's (%.1f vs %.1f ms)", a-b, a, b)
	}
}

// measurePhase loads the page for s, lets it settle, and measures for window.
func measurePhase(t *testing.T, ctx context.Context, site string, s *latencySource, settle, window time.Duration) phaseFigures {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(site+"/?measure=1&via=whep&finesync=0&session="+s.session)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 })
	pause(t, ctx, settle) // Chrome's jitter estimates and A/V sync converge first
	const collect = `window.refFrames = []; window.refMarks = window.avhostSync.flashes.length;
		window.refBeeps = window.avhostSync.beeps.length;
		video.requestVideoFrameCallback(function cb(now, m) {
			window.refFrames.push({rtp: m.rtpTimestamp, recv: performance.timeOrigin + (m.receiveTime ?? NaN),
				display: performance.timeOrigin + m.expectedDisplayTime});
			video.requestVideoFrameCallback(cb);
		}); true`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](collect)); err != nil {
		t.Fatal(err)
	}
	jb0 := jitterStats(t, ctx)
	pause(t, ctx, window)
	jb1 := jitterStats(t, ctx)
	type marks struct {
		Frames  []pageFrame `json:"frames"`
		Flashes []float64   `json:"flashes"`
		RTP     []*uint32   `json:"rtp"`
		Beeps   []float64   `json:"beeps"`
	}
	m, err := chromedp.Run(ctx, chromedp.Evaluate[marks](`({frames: window.refFrames,
		flashes: window.avhostSync.flashes.slice(window.refMarks), rtp: window.avhostSync.flashRTP.slice(window.refMarks),
		beeps: window.avhostSync.beeps.slice(window.refBeeps)})`))
	if err != nil {
		t.Fatal(err)
	}
	f := phaseFigures{jb: map[string]float64{}, target: map[string]float64{}}
	for k, b := range jb1 {
		a := jb0[k]
		if n := b.N - a.N; n > 0 {
			f.jb[k], f.target[k] = 1000*(b.Delay-a.Delay)/n, 1000*(b.Target-a.Target)/n
		}
	}
	for _, fr := range m.Frames {
		mt := float64(s.media(true, fr.RTP).UnixNano()) / 1e6
		f.frame = append(f.frame, fr.Display-mt)
		if !math.IsNaN(fr.Recv) {
			f.held = append(f.held, fr.Display-fr.Recv)
			f.arrive = append(f.arrive, fr.Recv-mt)
		}
	}
	for i, d := range m.Flashes {
		if i < len(m.RTP) && m.RTP[i] != nil {
			f.flash = append(f.flash, d-float64(s.media(true, *m.RTP[i]).UnixNano())/1e6)
		}
	}
	f.av, _ = pairOffsets(m.Flashes, m.Beeps, 0)
	return f
}

// jitterStats reads the inbound-rtp jitter buffer totals of each track.
func jitterStats(t *testing.T, ctx context.Context) map[string]jbStats {
	t.Helper()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]jbStats](`(async () => {
		const o = {};
		(await window.avhostPC.getStats()).forEach(r => { if (r.type === 'inbound-rtp') o[r.kind] = {
			Delay: r.jitterBufferDelay || 0, Target: r.jitterBufferTargetDelay || 0,
			Min: r.jitterBufferMinimumDelay || 0, N: r.jitterBufferEmittedCount || 0}; });
		return o;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// pause waits d as part of a measurement (a window's length, not a sync point).
func pause(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(d):
	}
}

// departures says when packets reached a Pion viewer on loopback against their
// media time, per track: the sender's departure, and audio's lead or lag on video.
func departures(s *latencySource) string {
	res := map[bool][]float64{}
	for _, video := range []bool{true, false} {
		for _, a := range s.rx.Arrived(video) {
			res[video] = append(res[video], float64(a.At.Sub(s.media(video, a.RTPTime)))/1e6)
		}
	}
	if len(res[true]) == 0 || len(res[false]) == 0 {
		return "no packets at the Pion viewer"
	}
	return fmt.Sprintf("packets at a Pion viewer after media time: video median %.1f ms (p5 %.1f, p95 %.1f), audio %.1f ms (p5 %.1f, p95 %.1f)",
		med(res[true]), pct(res[true], 0.05), pct(res[true], 0.95), med(res[false]), pct(res[false], 0.05), pct(res[false], 0.95))
}

func med(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return pct(v, 0.5)
}
