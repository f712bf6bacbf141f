package server_test

import (
	"context"
	"math"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

type syncMarks struct {
	Flashes []float64      `json:"flashes"`       // wall ms
	Beeps   []float64      `json:"beeps"`         // heard from the <video> element
	BeepsWA []float64      `json:"beepsWebAudio"` // at Web Audio's own output
	Quiet   []float64      `json:"quiet"`
	NTP     []float64      `json:"ntpDiff"` // Chrome's video-minus-audio playout NTP, every 500 ms
	Paths   [][2]float64   `json:"paths"`   // fine sync's audio and video capture → output paths
	Trims   [][3]float64   `json:"trims"`   // fine sync's video and audio targets and Chrome's offset, with NTP
	SyncErr []*float64     `json:"syncErr"` // the offset the page's fine sync steered by (null: none yet), with NTP
	Trim    map[string]any `json:"trim"`
	Error   string         `json:"error"` // why the beep detector did not start
}

func pct(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(math.Min(float64(len(s)-1), math.Floor(p*float64(len(s)))))]
}

// TestLipSyncInChromium plays the flash+beep pattern (once a second) and measures, in
// the browser, the offset between the displayed flash and the played beep, and the
// latency from the pulse's place on the timeline to its display. The flash is timed by
// requestVideoFrameCallback's expectedDisplayTime; the beep by an AudioWorklet, as
// heard from the <video> element (see measureAudio in web/index.html). It fails when
// the median offset exceeds ITU-R BT.1359's 45 ms. AVHOST_PULSES sets how many pulses
// (default 32).
func TestLipSyncInChromium(t *testing.T) {
	testenv.RequireBrowser(t)
	pulses, _ := strconv.Atoi(os.Getenv("AVHOST_PULSES"))
	if pulses == 0 {
		pulses = 32
	}
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	ctx, _ := browserKill(t, time.Duration(pulses+30)*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?measure=1&via=whep")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 })
	sess, _ := h.srv.Sessions.Get("demo")
	out, _ := h.srv.Stream("demo")
	pushed := float64(time.Now().UnixNano()) / 1e6
	u, err := demo.PlayPulses(context.Background(), sess, 1, pulses+2)
	if err != nil {
		t.Fatal(err)
	}
	var m syncMarks
	for len(m.Flashes) < pulses+1 || len(m.Beeps) < pulses+1 {
		got, err := marksOf(ctx)
		if err != nil {
			t.Fatalf("%v: %d flashes, %d beeps", err, len(m.Flashes), len(m.Beeps))
		}
		m = got
		time.Sleep(250 * time.Millisecond) // polling the page's own state
	}
	t0 := float64(out.WallTime(u.T0()).UnixNano()) / 1e6
	offsets, latencies := pairOffsets(m.Flashes, m.Beeps, t0)
	waOffsets, _ := pairOffsets(m.Flashes, m.BeepsWA, t0)
	if len(offsets) < pulses || len(waOffsets) < pulses {
		t.Fatalf("only %d flash/beep pairs: flashes %v beeps %v", len(offsets), m.Flashes, m.Beeps)
	}
	t.Logf("offsets in order (ms, beep minus flash): %.0f", offsets)
	report := func(what string, v []float64) {
		settled := v[len(v)/2:]
		t.Logf("%s over %d pulses: median %+.1f ms, p95 |offset| %.1f ms; second half: median %+.1f ms, p95 |offset| %.1f ms",
			what, len(v), pct(v, 0.5), pct(abs(v), 0.95), pct(settled, 0.5), pct(abs(settled), 0.95))
	}
	report("A/V offset, rVFC flash vs beep heard from the element (Web Audio)", offsets)
	report("A/V offset, rVFC flash vs beep at Web Audio's own output", waOffsets)
	// Chrome's own figure is for reference; it sometimes stops reporting
	// estimatedPlayoutTimestamp for one of the tracks.
	if len(m.NTP) >= 8 {
		settled := m.NTP[len(m.NTP)/2:]
		t.Logf("Chrome's own playout alignment (estimatedPlayoutTimestamp video−audio), second half: median %+.1f ms, p95 %+.1f ms",
			pct(settled, 0.5), pct(settled, 0.95))
	} else {
		t.Logf("Chrome reported estimatedPlayoutTimestamp for both tracks only %d times", len(m.NTP))
	}
	t.Logf("fine sync: %v", m.Trim)
	if n := len(m.Paths); n >= 8 {
		var a, v []float64
		for _, p := range m.Paths[n/2:] {
			a, v = append(a, p[0]), append(v, p[1])
		}
		_, beepLat := pairOffsets(m.Beeps, m.Beeps, t0)
		t.Logf("capture → output, second half: audio by fine sync %.1f ms, by the beep detector %.1f ms; video by fine sync %.1f ms, by the flashes %.1f ms",
			pct(a, 0.5), pct(beepLat[len(beepLat)/2:], 0.5), pct(v, 0.5), pct(latencies[len(latencies)/2:], 0.5))
	}
	t.Logf("latency timeline → display: median %.1f ms, p95 %.1f ms", pct(latencies, 0.5), pct(latencies, 0.95))
	// The first pulse starts the utterance: from its push to the page, the session's lead
	// (T0 ahead of now) comes on top. One sample per run.
	if len(m.Flashes) > 0 && len(m.Beeps) > 0 && math.Abs(m.Flashes[0]-t0) < 500 && math.Abs(m.Beeps[0]-t0) < 500 {
		t.Logf("speech start, push of the first pulse → displayed %.1f ms, heard %.1f ms (T0 was %.1f ms after the push)",
			m.Flashes[0]-pushed, m.Beeps[0]-pushed, t0-pushed)
	}
	if med := math.Abs(pct(offsets, 0.5)); med > 45 {
		t.Fatalf("median flash/beep offset %.1f ms exceeds the 45 ms detectability bound (ITU-R BT.1359)", med)
	}
}

// pairOffsets pairs each flash after t0 with the nearest beep (within 400 ms) and
// returns beep minus flash for each pair, and each flash's latency from its place on
// the timeline (pulses are 1 s apart from t0).
func pairOffsets(flashes, beeps []float64, t0 float64) (offsets, latencies []float64) {
	for _, f := range flashes {
		k := math.Round((f - t0) / 1000)
		if k < 0 {
			continue
		}
		best := math.Inf(1)
		for _, b := range beeps {
			if math.Abs(b-f) < math.Abs(best) {
				best = b - f
			}
		}
		if math.Abs(best) < 400 {
			offsets = append(offsets, best)
		}
		latencies = append(latencies, f-(t0+1000*k))
	}
	return offsets, latencies
}

func abs(v []float64) []float64 {
	a := make([]float64, len(v))
	for i, x := range v {
		a[i] = math.Abs(x)
	}
	return a
}
