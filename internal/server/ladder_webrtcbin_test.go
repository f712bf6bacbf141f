package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// ladderBackend is AVHOST_LADDER_BACKEND: "pion" (the default) or "webrtcbin".
func ladderBackend(t *testing.T) string {
	switch b := os.Getenv("AVHOST_LADDER_BACKEND"); b {
	case "", "pion":
		return "pion"
	case "webrtcbin":
		return b
	default:
		t.Fatalf("AVHOST_LADDER_BACKEND=%q: want pion or webrtcbin", b)
		return ""
	}
}

// webrtcbinBottleneck is the bottleneck run with the session on the webrtcbin
// backend (AVHOST_LADDER_BACKEND=webrtcbin): the same namespaces, tbf and noise as
// ladderBottleneck, a clean viewer on the host's path, but no ladder. GStreamer 1.22's webrtcbin has no
// congestion control of its own (rtpgccbwe is gst-plugins-rs, not in Debian 12),
// avhost reads no webrtcbin viewer's feedback, and its NACK repair is off (docs/
// deploy.md), so every viewer gets the one 1.5 Mbit/s encode whatever its link
// carries. The run reports what the limited viewer gets; it asserts only what must
// hold even so: the clean viewer keeps its stream, avhost offers the link no more
// than it sent before the limit (no retransmission or key frame storm), and the
// limited viewer plays again once the limit is lifted.
func webrtcbinBottleneck(t *testing.T, join func(t *testing.T, ns, web string) *ladderViewer) {
	v, rate := limitedViewerNetns(t)

	logs := &logBuf{}
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 256, Height: 256, Pipeline: noisePipeline(t), Backend: "webrtcbin"}
		c.Listen = "10.232.0.1:18081"
		c.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	t.Cleanup(func() {
		for _, l := range logs.lines("viewer left") {
			t.Log(l)
		}
	})
	// The clean viewer, on the host's own path: Chromium too, as webrtcbin 1.22's
	// answer declares no video SSRC, and a Pion receiver (two m-lines, no MID
	// extension from webrtcbin) then never gets a video track.
	clean := cleanChromium(t, h.web)
	limited := join(t, v, h.web)
	waitFor(t, 5*time.Second, func() bool { return limited.last().Packets > 0 }, "the limited viewer's first figures")
	// What avhost offers the link, counted before the qdisc (as ladderBottleneck).
	nft(t, "", `table inet avhl {
	chain out { type filter hook output priority 0; oifname "avhl-h" counter; }
}`)

	// A clean stretch: what the session sends without a limit.
	a0, c0, off0 := limited.last(), clean(), offered(t)
	time.Sleep(3 * time.Second) // the clean stretch itself, not synchronisation
	a1, c1, off1 := limited.last(), clean(), offered(t)
	cleanSecs := a1.at().Sub(a0.at()).Seconds()
	offClean := float64(off1-off0) * 8 / cleanSecs / 1000
	t.Logf("webrtcbin backend, noise 256×256@25 on one 1.5 Mbit/s encode; before the limit: avhost offered the link %.0f kbit/s; limited viewer %s; clean viewer %s",
		offClean, wbFigures(a0, a1), wbFigures(c0, c1))

	run(t, "tc", "qdisc", "add", "dev", "avhl-h", "root", "tbf", "rate", fmt.Sprintf("%dkbit", rate), "burst", "16kb", "latency", "100ms")
	limitedAt, atLimit := time.Now(), limited.last()
	time.Sleep(time.Until(limitedAt.Add(5 * time.Second))) // the window's start, not synchronisation
	start, cStart := limited.last(), clean()
	tcBefore, offBefore := tcSent(t), offered(t)
	healthy := 0
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if healthz(h.web) {
			healthy++
		}
	}
	end, cEnd := limited.last(), clean()
	tcAfter, offAfter := tcSent(t), offered(t)
	secs := end.at().Sub(start.at()).Seconds()
	sent := float64(tcAfter-tcBefore) * 8 / secs / 1000
	off := float64(offAfter-offBefore) * 8 / secs / 1000
	t.Logf("tbf %d kbit/s, from the limit to 5 s after: limited viewer %s", rate, wbFigures(atLimit, start))
	t.Logf("tbf %d kbit/s, %.0f s from 5 s after the limit: limited viewer %s", rate, secs, wbFigures(start, end))
	t.Logf("tbf %d kbit/s: avhost offered the link %.0f kbit/s (%.2f× its rate, %.2f× before the limit), %.0f kbit/s went through; clean viewer %s; /healthz %d of 15; load %s",
		rate, off, off/float64(rate), off/offClean, sent, wbFigures(cStart, cEnd), healthy, loadAvg())
	if out, err := exec.Command("tc", "-s", "qdisc", "show", "dev", "avhl-h").CombinedOutput(); err == nil {
		t.Logf("tbf: %s", out)
	}

	// What must hold without any congestion control.
	cleanFPS := func(a, b viewerStat) float64 { return float64(b.Frames-a.Frames) / b.at().Sub(a.at()).Seconds() }
	cl, ce := (cEnd.Expected-cStart.Expected)-(cEnd.Packets-cStart.Packets), cEnd.Expected-cStart.Expected
	if ce == 0 || float64(cl) > 0.01*float64(ce) || cleanFPS(cStart, cEnd) < 0.8*cleanFPS(c0, c1) {
		t.Errorf("the clean viewer's stream suffered under another viewer's limit: %s (before: %s)", wbFigures(cStart, cEnd), wbFigures(c0, c1))
	}
	if off > 1.25*offClean {
		t.Errorf("offered %.0f kbit/s to the limited link, %.2f× the %.0f kbit/s before the limit: a storm", off, off/offClean, offClean)
	}
	if healthy < 14 {
		t.Errorf("/healthz answered %d of 15 times under the limit", healthy)
	}

	run(t, "tc", "qdisc", "del", "dev", "avhl-h", "root")
	liftedAt, atLift := time.Now(), limited.last()
	// Playing again: a second's figures with at least 20 frames decoded.
	prev := atLift
	waitFor(t, 20*time.Second, func() bool {
		cur := limited.last()
		if cur.at().Sub(prev.at()) < time.Second {
			return false
		}
		ok := cur.Frames-prev.Frames >= 20 && cur.At > liftedAt.UnixMilli()
		prev = cur
		return ok
	}, "the limited viewer playing again after the limit is lifted")
	t.Logf("limit lifted: playing again after %v; from the lift %s", time.Since(liftedAt).Round(100*time.Millisecond), wbFigures(atLift, limited.last()))
}

// wbFigures is a Chromium viewer's figures between a and b: what it showed and
// heard (frames, freezes, concealed audio, jitter buffer), what it lost and asked
// for (no figure is repair: webrtcbin answers no NACK).
func wbFigures(a, b viewerStat) string {
	secs := b.at().Sub(a.at()).Seconds()
	rx := float64(b.Bytes-a.Bytes) * 8 / secs / 1000
	lost, exp := (b.Expected-a.Expected)-(b.Packets-a.Packets), b.Expected-a.Expected
	s := fmt.Sprintf("%.0f kbit/s video received, %d of %d packets lost (%.1f %%)", rx, lost, exp, 100*float64(lost)/float64(max(exp, 1)))
	jb := 0.0
	if n := b.JBN - a.JBN; n > 0 {
		jb = 1000 * (b.JB - a.JB) / n
	}
	conc := 0.0
	if n := b.ASamples - a.ASamples; n > 0 {
		conc = 100 * (b.AConcealed - a.AConcealed) / n
	}
	return fmt.Sprintf("%s; %.1f fps decoded, %d freezes (%d longer than 300 ms, %.0f ms frozen), concealed audio %.2f %%, jitter buffer video %.0f ms, NACKs %d, PLIs %d, key frames %d",
		s, float64(b.Frames-a.Frames)/secs, b.Freezes-a.Freezes, b.Long-a.Long, b.FreezeMS-a.FreezeMS, conc, jb, b.NACKs-a.NACKs, b.PLIs-a.PLIs, b.KeyFrames-a.KeyFrames)
}

// cleanChromium is a Chromium viewer of the demo session in this process's
// namespace (the host's), and a reader of its figures (ladderStatsJS), for the
// test's life.
func cleanChromium(t *testing.T, web string) func() viewerStat {
	t.Helper()
	// The mDNS flag of browserKill's named namespaces: this private one is no better.
	ctx, _ := browserKill(t, 3*time.Minute, chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"))
	if err := chromedp.Do(ctx, chromedp.Navigate(web+"/?via=whep")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(s pageStats) bool { return s.FramesDecoded > 25 })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](ladderStatsJS)); err != nil {
		t.Fatal(err)
	}
	read := func() viewerStat {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[viewerStat](`window.avhostLadder`))
		s.At = time.Now().UnixMilli()
		return s
	}
	waitFor(t, 5*time.Second, func() bool { return read().Packets > 0 }, "the clean viewer's first figures")
	return read
}

// healthz says whether the host answers /healthz with 200 within 2 s.
func healthz(web string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(web + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
