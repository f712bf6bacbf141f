package server_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// captureMarks is what the page (?measure=1) records of each flash it displays.
type captureMarks struct {
	Flashes []float64  `json:"flashes"`      // displayed, wall ms
	Glass   []*float64 `json:"flashGlass"`   // the page's glass-to-glass figure for that frame
	Capture []*float64 `json:"flashCapture"` // its captureTime, wall ms
	RTP     []*uint32  `json:"flashRTP"`     // its RTP timestamp
}

// TestGlassToGlassInChromium checks the page's glass-to-glass figure against the
// test's own clock. The demo plays a flash once a second. For each flash the page
// records when it displayed the frame (requestVideoFrameCallback's
// expectedDisplayTime, as wall time: on one machine performance.timeOrigin + now is
// the wall clock), the frame's RTP timestamp, and its own figure for that frame,
// expectedDisplayTime − captureTime, where captureTime comes from the abs-capture-time
// avhost sends. The test knows when that frame was captured without the page: its
// RTP timestamp is a running time on the stream, whose timeline wall time is
// Stream.WallTime. The two latencies must agree within 10 ms for every flash. The live
// figure the page shows is the median over its last 25 frames; the page hands over
// those frames (RTP timestamp, display time) with it, and the test's own median over
// the same frames must be within 10 ms of it. (Against one frame it would not be:
// 25 fps on a 60 Hz display puts consecutive frames up to a vsync apart in latency.)
func TestGlassToGlassInChromium(t *testing.T) {
	testenv.RequireBrowser(t)
	const pulses = 8
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	ctx, _ := browserKill(t, time.Duration(pulses+30)*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?measure=1&via=whep#token="+token)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 })
	sess, _ := h.srv.Sessions.Get("demo")
	out, _ := h.srv.Stream("demo")
	u, err := demo.PlayPulses(context.Background(), sess, 1, pulses+2)
	if err != nil {
		t.Fatal(err)
	}
	var m captureMarks
	for len(m.Flashes) < pulses {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[captureMarks](`window.avhostSync`))
		if err != nil {
			t.Fatalf("%v: %d flashes", err, len(m.Flashes))
		}
		m = got
		select { // polling the page's own state: it has no event to wait on
		case <-ctx.Done():
			t.Fatalf("%d flashes displayed", len(m.Flashes))
		case <-time.After(250 * time.Millisecond):
		}
	}
	t0 := float64(out.WallTime(u.T0()).UnixNano()) / 1e6
	rtp0 := out.RTPTime(true, 0)
	var mine []float64
	for i, f := range m.Flashes {
		if m.Glass[i] == nil || m.Capture[i] == nil || m.RTP[i] == nil {
			t.Fatalf("flash %d: the page has no captureTime (abs-capture-time not negotiated or not used)", i)
		}
		rt := time.Duration(float64(*m.RTP[i]-rtp0) / 90000 * float64(time.Second))
		captured := float64(out.WallTime(rt).UnixNano()) / 1e6 // the frame's place on the timeline
		if captured < t0-1 {
			continue // a bright idle frame before the pulses (none expected)
		}
		own := f - captured
		mine = append(mine, own)
		t.Logf("flash %d (%.0f ms after T0): displayed %.1f ms after its capture by the test's clock; the page says %.1f ms (its captureTime %+.2f ms off)",
			i, captured-t0, own, *m.Glass[i], *m.Capture[i]-captured)
		if d := *m.Glass[i] - own; math.Abs(d) > 10 {
			t.Errorf("flash %d: the page's glass-to-glass %.1f ms, the test's clock %.1f ms (off by %.1f ms)", i, *m.Glass[i], own, d)
		}
	}
	if len(mine) < pulses-1 {
		t.Fatalf("only %d flashes after T0: %v", len(mine), m.Flashes)
	}
	// The extension itself, on both tracks: Chrome shows what it last received as
	// each receiver's synchronization source captureTimestamp.
	srcs, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]*float64](`Object.fromEntries(window.avhostPC.getReceivers().map(r =>
		[r.track.kind, (r.getSynchronizationSources()[0] || {}).captureTimestamp ?? null]))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"video", "audio"} {
		if srcs[k] == nil {
			t.Errorf("Chrome's %s receiver reports no captureTimestamp: abs-capture-time did not arrive on it", k)
		}
	}
	type shownFrame struct {
		RTP     uint32  `json:"rtp"`
		Display float64 `json:"display"` // wall ms
	}
	type shown struct {
		Live   float64      `json:"live"` // as the page shows it (rounded)
		Frames []shownFrame `json:"frames"`
	}
	sh, err := chromedp.Run(ctx, chromedp.Evaluate[shown](`({live: Number(document.getElementById('g2g').textContent), frames: window.avhostGlass.shown.frames})`))
	if err != nil {
		t.Fatal(err)
	}
	var over []float64
	for _, f := range sh.Frames {
		rt := time.Duration(float64(f.RTP-rtp0) / 90000 * float64(time.Second))
		over = append(over, f.Display-float64(out.WallTime(rt).UnixNano())/1e6)
	}
	if len(over) < 20 {
		t.Fatalf("the live figure is over %d frames, want 25", len(over))
	}
	t.Logf("glass to glass: the page shows %.0f ms live; the test's clock says %.1f ms over the same %d frames (%.1f…%.1f); over the flashes median %.1f ms, p95 %.1f ms",
		sh.Live, pct(over, 0.5), len(over), pct(over, 0), pct(over, 1), pct(mine, 0.5), pct(mine, 0.95))
	if d := sh.Live - pct(over, 0.5); math.Abs(d) > 10 {
		t.Fatalf("the page's live figure %.0f ms is %.1f ms off the test's clock", sh.Live, d)
	}
}
