package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// TestLossChromium is `make bench`'s random-loss run (issue 12, Done when 2): avhost
// in one network namespace, a Chromium viewer of the demo page (by WHEP, ?measure=1,
// the flash+beep pattern of TestLipSyncInChromium) in another, joined by a veth.
// One page plays three phases of AVHOST_LOSS_SECONDS each: clean, then 2 % and 5 %
// of avhost's UDP to the viewer dropped at random by nftables (numgen random). Per
// phase it prints freezes over 300 ms (from requestVideoFrameCallback: displayed
// frames more than 300 ms apart) and Chrome's own freeze count, concealed audio,
// what Opus in-band FEC recovered, the A/V offset (avMean of the flash/beep pairs)
// against the clean phase's, NACKs and retransmissions on both sides, the decoded
// frame rate and the Opus encoder's expected loss; and fails when a goal is missed:
// no freeze over 300 ms at 2 %, at most one at 5 %; concealed audio ≤ 0.5 % at 2 %,
// ≤ 1.5 % at 5 %; A/V offset within 10 ms of the clean phase.
//
// AVHOST_LOSS_BACKEND=webrtcbin serves the session with the webrtcbin backend
// instead (figures only: no goal asserted, see docs); AVHOST_LOSS_CONTENT=noise
// sends videotestsrc's snow (1.5 Mbit/s) instead of the avatar (≈165 kbit/s);
// AVHOST_LOSS_FINESYNC=0 turns the page's fine sync off; AVHOST_LOSS_NULL=1 runs three
// clean phases (the goals' null run); AVHOST_LOSS_LADDER=on|off sets
// session.ladder (else its default).
func TestLossChromium(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("AVHOST_LOSS_SECONDS"))
	if secs <= 0 {
		t.Skip("AVHOST_LOSS_SECONDS unset (make bench runs it)")
	}
	if !inPrivateNetns(t) {
		return
	}
	backend := os.Getenv("AVHOST_LOSS_BACKEND")
	if backend == "" {
		backend = "pion"
	}
	content := os.Getenv("AVHOST_LOSS_CONTENT")
	v := netns(t, "loss")
	run(t, "ip", "link", "add", "avhs-h", "type", "veth", "peer", "name", "avhs-v", "netns", v)
	run(t, "ip", "addr", "add", "10.233.0.1/24", "dev", "avhs-h")
	run(t, "ip", "link", "set", "avhs-h", "up")
	run(t, "ip", "-n", v, "addr", "add", "10.233.0.2/24", "dev", "avhs-v")
	run(t, "ip", "-n", v, "link", "set", "avhs-v", "up")

	logs := &logBuf{}
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 512, Height: 512, Backend: backend}
		if content == "noise" {
			c.Session.Pipeline = noisePipeline(t)
		}
		if os.Getenv("AVHOST_LOSS_LADDER") != "" {
			c.Session.Ladder = os.Getenv("AVHOST_LOSS_LADDER")
		}
		c.Listen = "10.233.0.1:18082"
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = ":18191", ":18191"
		c.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	t.Cleanup(func() {
		for _, l := range logs.lines("opus expected loss") {
			t.Log(l)
		}
		if f := os.Getenv("AVHOST_LOSS_LOG"); f != "" { // the host's whole debug log, to read the estimator's trace
			os.WriteFile(f, []byte(strings.Join(logs.lines(""), "\n")), 0o644)
		}
		for _, l := range logs.lines("viewer rendition") {
			t.Log(l)
		}
		for _, l := range logs.lines("viewer left") {
			t.Log(l)
		}
	})
	sess, err := h.srv.Sessions.Get("demo")
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.srv.Stream("demo")
	if err != nil {
		t.Fatal(err)
	}
	d := time.Duration(secs) * time.Second
	// Not measured: the page's fine sync and Chrome's jitter buffers settle. After
	// 10 s, the clean phase's first offsets still ran -87…+297 ms in 3 of 4 20 s
	// runs (video jitter buffer 131–279 ms against 52–165 ms in the loss phases).
	warm := 20 * time.Second
	total := warm + 3*d + 30*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), total+time.Minute)
	defer cancel()
	page := h.web + "/?measure=1&via=whep"
	if os.Getenv("AVHOST_LOSS_FINESYNC") == "0" { // the page's fine sync moves the video's jitter buffer target
		page += "&finesync=0"
	}
	cv := startLossViewer(t, ctx, v, page+"#token="+token, total+30*time.Second)
	pctx, stopPulses := context.WithCancel(ctx)
	defer stopPulses()
	// A pulse every 26 frames (1.04 s at 25 fps): each flash lands at another phase
	// of the display's 60 Hz refresh, so a phase's mean offset does not depend on
	// where its playout delay put the refresh (demo.PulsePattern).
	u, err := demo.PlayPulsesEvery(pctx, sess, 1, int(total/(1040*time.Millisecond)), 26)
	if err != nil {
		t.Fatal(err)
	}
	t0 := float64(st.WallTime(u.T0()).UnixNano()) / 1e6
	time.Sleep(warm) // the warm-up itself, not synchronisation

	type result struct {
		name       string
		loss       int // percent
		a, b       lossSnap
		p          phase
		srv0, srv1 serverNet
		opus       int
		load       string  // /proc/loadavg's 1-minute figure at the phase's end
		av         float64 // the flash/beep offsets' interquartile mean (avMean)
	}
	var res []result
	losses := []int{0, 2, 5}
	if os.Getenv("AVHOST_LOSS_NULL") != "" { // three clean phases: how far the offset wanders with no loss
		losses = []int{0, 0, 0}
	}
	for _, loss := range losses {
		setLoss(t, loss)
		r := result{name: "clean", loss: loss}
		if loss > 0 {
			r.name = fmt.Sprintf("%d %% loss", loss)
		}
		r.srv0, r.a = scrapeNet(t, h.web), cv.snap(t)
		time.Sleep(d) // the phase itself, not synchronisation
		r.srv1, r.b = scrapeNet(t, h.web), cv.snap(t)
		r.opus = st.AudioLossPercent()
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			r.load = strings.Fields(string(b))[0]
		}
		res = append(res, r)
	}
	setLoss(t, 0)
	m := cv.marks(t)
	t.Logf("page marks: %d flashes, %d beeps (%d quiet marks), %d sync estimates", len(m.Flashes), len(m.Beeps), len(m.Quiet), len(m.NTP))
	if m.Error != "" {
		t.Fatalf("the page's beep detector did not start: %s", m.Error)
	}

	what := "the demo avatar"
	if content == "noise" {
		what = "noise (1.5 Mbit/s)"
	}
	t.Logf("%s backend, %s, 512×512@25, Chromium by WHEP in another namespace, %v per phase", backend, what, d)
	t.Logf("%-10s %5s %14s %13s %9s %13s %15s %9s %6s %19s %17s %4s", "phase", "fps", "freezes>300ms", "chrome frz/ms", "concealed", "audio lost", "FEC recovered", "A/V", "nacks", "RTX recv pkts/bytes", "server resent/ref", "opus")
	var miss []string
	for i := range res {
		r := &res[i]
		r.p = viewerPhase(r.a.viewerSnap, r.b.viewerSnap, m, t0)
		offsets := phaseOffsets(r.a.viewerSnap, r.b.viewerSnap, m, t0)
		r.av = avMean(offsets)
		dv := func(f func(lossSnap) float64) float64 { return f(r.b) - f(r.a) }
		gaps, gapMS := dv(func(s lossSnap) float64 { return s.Gaps }), dv(func(s lossSnap) float64 { return s.GapMS })
		lost, recv := dv(func(s lossSnap) float64 { return s.AudioLost }), dv(func(s lossSnap) float64 { return s.AudioRecv })
		t.Logf("%-10s %5.1f %7.0f / %-5.0f %6.0f / %-5.0f %7.3f %% %5.0f (%4.2f %%) %6.0f / %-6.0f %+6.1f ms %6.0f %8.0f / %-9.0f %7d / %-7d %4d",
			r.name, r.p.FPS, gaps, gapMS, r.p.Freezes, r.p.FreezeMS, r.p.ConcealedPct,
			lost, 100*lost/math.Max(lost+recv, 1),
			dv(func(s lossSnap) float64 { return s.FECRecv }), dv(func(s lossSnap) float64 { return s.FECDiscarded }),
			r.av, dv(func(s lossSnap) float64 { return s.NACKs }),
			dv(func(s lossSnap) float64 { return s.RTXPkts }), dv(func(s lossSnap) float64 { return s.RTXBytes }),
			r.srv1.resent-r.srv0.resent, r.srv1.refused-r.srv0.refused, r.opus)
		t.Logf("%-10s video packets lost on the wire (Chrome's packetsLost, repairs not subtracted) %.0f of %.0f; resent bytes (server, upper bound) %d; jitter buffer video %.0f ms, audio %.0f ms; A/V pairs %d, median %+.1f ms, Chrome's sync estimate %+.1f ms",
			r.name, dv(func(s lossSnap) float64 { return s.VideoLost }), dv(func(s lossSnap) float64 { return s.VideoLost + s.VideoRecv }),
			r.srv1.resentBytes-r.srv0.resentBytes, r.b.jbv(r.a), r.b.jba(r.a), r.p.AVPairs, r.p.AVMedian, r.p.ChromeAV)
		if r.srv1.estCount > 0 {
			t.Logf("%-10s NACKs refused by the server: %s; the viewer's estimate at the end %.0f kbit/s", r.name, whyRefused(r.srv0, r.srv1), r.srv1.estSum/r.srv1.estCount/1000)
		}
		t.Logf("%-10s concealment events %.0f, of the concealed samples %.0f %% silent; host load average %s", r.name, dv(func(s lossSnap) float64 { return s.Events }),
			100*dv(func(s lossSnap) float64 { return s.Silent })/math.Max(r.b.Concealed-r.a.Concealed, 1), r.load)
		t.Logf("%-10s A/V offsets in order (ms, beep minus flash): %.0f", r.name, offsets)
		t.Logf("%-10s the page's fine sync saw %s (median over the phase, ms; its input: %v); %s", r.name, pageSyncErr(m, r.a.viewerSnap, r.b.viewerSnap), m.Trim["input"], pageTrims(m, r.a.viewerSnap, r.b.viewerSnap))
		if i == 0 {
			continue
		}
		// The A/V offset: avMean of the page's flash/beep pairs (displayed flash by
		// rVFC, beep heard by the AudioWorklet) against the clean phase's; the
		// median and Chrome's own estimate are printed for reference only.
		cur, base := r.av, res[0].av
		av := math.Abs(cur - base)
		maxGaps, maxConc := 0.0, 0.5
		if r.name == "5 % loss" {
			maxGaps, maxConc = 1, 1.5
		}
		if gaps > maxGaps {
			miss = append(miss, fmt.Sprintf("%s: %.0f freezes over 300 ms (goal ≤ %.0f)", r.name, gaps, maxGaps))
		}
		if r.p.ConcealedPct > maxConc {
			miss = append(miss, fmt.Sprintf("%s: concealed audio %.2f %% (goal ≤ %.1f %%)", r.name, r.p.ConcealedPct, maxConc))
		}
		if backend == "pion" && r.loss > 0 && dv(func(s lossSnap) float64 { return s.RTXPkts }) == 0 { // a null run loses nothing to mend
			miss = append(miss, r.name+": Chrome received no retransmission on RTX")
		}
		if !(av <= 10) { // NaN (no pairs) misses too
			miss = append(miss, fmt.Sprintf("%s: A/V offset %+.1f ms against %+.1f ms clean (goal within 10 ms)", r.name, cur, base))
		}
	}
	if len(miss) == 0 {
		return
	}
	if backend == "webrtcbin" {
		t.Logf("webrtcbin misses (reported, not asserted): %s", strings.Join(miss, "; "))
		return
	}
	t.Errorf("goals missed under loss: %s", strings.Join(miss, "; "))
}

// phaseOffsets is the flash/beep offsets of the flashes displayed between a and b,
// as viewerPhase pairs them.
func phaseOffsets(a, b viewerSnap, m syncMarks, t0 float64) []float64 {
	var fl []float64
	for _, f := range m.Flashes {
		if f >= a.At && f < b.At {
			fl = append(fl, f)
		}
	}
	offsets, _ := pairOffsets(fl, m.Beeps, t0)
	return offsets
}

// avMean is the offsets' interquartile mean: the mean of the middle half (NaN
// without any). Not the median: the flash is timed at the display frame that shows
// it, so at 60 Hz each offset is the true one plus a wait of 0–16.7 ms, and the
// pulses, 1 s (60 display frames) apart, meet the display at nearly the same phase
// each time. Near a frame boundary the offsets split into two levels 16.7 ms apart
// (-1 and +14 ms in one clean phase), and the median jumps between them with the
// share of each; the mean moves with the share, so it resolves finer than a display
// frame. The quarters cut off each side drop a starved browser's bursts (3 of 19
// pairs at +146…+178 ms in one phase on a host at load 9).
func avMean(offsets []float64) float64 {
	s := append([]float64(nil), offsets...)
	sort.Float64s(s)
	cut := len(s) / 4
	s = s[cut : len(s)-cut]
	if len(s) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return sum / float64(len(s))
}

// setLoss drops pct % of avhost's UDP out of the veth to the viewer (0: none). The
// rule is nftables' numgen random, per packet: losses independent of each other.
func setLoss(t *testing.T, pct int) {
	t.Helper()
	rule := ""
	if pct > 0 {
		rule = fmt.Sprintf(`oifname "avhs-h" meta l4proto udp numgen random mod 100 < %d counter drop;`, pct)
	}
	exec.Command("nft", "delete", "table", "inet", "avhs").Run() // absent the first time
	nft(t, "", fmt.Sprintf(`table inet avhs {
	chain out { type filter hook output priority 0; %s }
}`, rule))
}

// serverNet is the Pion backend's NACK figures for the demo session from /metrics.
type serverNet struct {
	resent, refused, resentBytes int
	why                          map[string]int // refusals by reason
	estSum, estCount             float64        // the viewers' estimate histogram
}

// whyRefused is what the gate refused between a and b, by reason.
func whyRefused(a, b serverNet) string {
	var out []string
	for k, v := range b.why {
		if d := v - a.why[k]; d > 0 {
			out = append(out, fmt.Sprintf("%s %d", k, d))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

var (
	nackRE   = regexp.MustCompile(`^avhost_webrtc_nacked_packets_total\{result="(\w+)",session="demo"\} (\d+)`)
	resentRE = regexp.MustCompile(`^avhost_webrtc_resent_bytes_total\{session="demo"\} (\d+)`)
	estRE    = regexp.MustCompile(`^avhost_webrtc_viewer_estimate_bits_per_second_(sum|count)\{session="demo"\} (\S+)`)
)

func scrapeNet(t *testing.T, web string) serverNet {
	t.Helper()
	n := serverNet{why: map[string]int{}}
	for _, l := range metricsText(t, web) {
		if g := nackRE.FindStringSubmatch(l); g != nil {
			v, _ := strconv.Atoi(g[2])
			if g[1] == "resent" {
				n.resent = v
			} else {
				n.refused += v
				n.why[g[1]] = v
			}
		}
		if g := resentRE.FindStringSubmatch(l); g != nil {
			n.resentBytes, _ = strconv.Atoi(g[1])
		}
		if g := estRE.FindStringSubmatch(l); g != nil {
			v, _ := strconv.ParseFloat(g[2], 64)
			if g[1] == "sum" {
				n.estSum = v
			} else {
				n.estCount = v
			}
		}
	}
	return n
}

// lossSnap is viewerSnap with the loss and repair figures of getStats.
type lossSnap struct {
	viewerSnap
	Gaps, GapMS              float64 // displayed frames more than 300 ms apart (rVFC)
	Silent, Events           float64 // silentConcealedSamples, concealmentEvents
	AudioLost, AudioRecv     float64
	FECRecv, FECDiscarded    float64
	VideoLost, VideoRecv     float64
	NACKs, RTXPkts, RTXBytes float64
	JBV, JBVN, JBA, JBAN     float64 // jitterBufferDelay and jitterBufferEmittedCount
}

func (s lossSnap) jbv(a lossSnap) float64 {
	return 1000 * (s.JBV - a.JBV) / math.Max(s.JBVN-a.JBVN, 1)
}

func (s lossSnap) jba(a lossSnap) float64 {
	return 1000 * (s.JBA - a.JBA) / math.Max(s.JBAN-a.JBAN, 1)
}

// gapWatchJS counts displayed frames more than 300 ms apart, from
// requestVideoFrameCallback beside the page's own. A stall is counted once it has
// lasted 300 ms (a timer looks), so one still going at a snapshot, or picture that
// stops for good, counts too; its duration is added when the next frame comes.
const gapWatchJS = `(() => {
  const v = document.querySelector('video'); window.avhostGaps = {n: 0, ms: 0};
  let last = 0, open = false;
  const f = (now) => {
    if (last && now - last > 300) { avhostGaps.ms += now - last; if (!open) avhostGaps.n++; }
    open = false; last = now; v.requestVideoFrameCallback(f);
  };
  v.requestVideoFrameCallback(f);
  setInterval(() => { if (last && !open && performance.now() - last > 300) { avhostGaps.n++; open = true; } }, 50);
  return true;
})()`

// lossSnapJS reads snapJS's figures and the loss and repair counters of getStats.
const lossSnapJS = `(async () => {
  const o = await ` + snapJS + `;
  o.gaps = window.avhostGaps ? avhostGaps.n : 0; o.gapMs = window.avhostGaps ? avhostGaps.ms : 0;
  const pc = window.avhostPC; if (!pc) return o;
  (await pc.getStats()).forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'audio') { o.aLost = r.packetsLost || 0; o.aRecv = r.packetsReceived || 0; o.fec = r.fecPacketsReceived || 0; o.silent = r.silentConcealedSamples || 0; o.events = r.concealmentEvents || 0; o.fecDisc = r.fecPacketsDiscarded || 0;
      o.jba = r.jitterBufferDelay || 0; o.jban = r.jitterBufferEmittedCount || 0; }
    if (r.kind === 'video') { o.vLost = r.packetsLost || 0; o.vRecv = r.packetsReceived || 0; o.nacks = r.nackCount || 0;
      o.rtx = r.retransmittedPacketsReceived || 0; o.rtxBytes = r.retransmittedBytesReceived || 0;
      o.jbv = r.jitterBufferDelay || 0; o.jbvn = r.jitterBufferEmittedCount || 0; }
  });
  return o;
})()`

// UnmarshalJSON takes lossSnapJS's short names.
func (s *lossSnap) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &s.viewerSnap); err != nil {
		return err
	}
	var x struct {
		Gaps, GapMs, Silent, Events, ALost, ARecv, Fec, FecDisc, VLost, VRecv, Nacks, Rtx, RtxBytes, Jbv, Jbvn, Jba, Jban float64
	}
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	s.Gaps, s.GapMS, s.AudioLost, s.AudioRecv, s.FECRecv, s.FECDiscarded = x.Gaps, x.GapMs, x.ALost, x.ARecv, x.Fec, x.FecDisc
	s.VideoLost, s.VideoRecv, s.NACKs, s.RTXPkts, s.RTXBytes = x.VLost, x.VRecv, x.Nacks, x.Rtx, x.RtxBytes
	s.JBV, s.JBVN, s.JBA, s.JBAN = x.Jbv, x.Jbvn, x.Jba, x.Jban
	s.Silent, s.Events = x.Silent, x.Events
	return nil
}

// lossViewer is TestLossChromiumHelper running in the viewer's namespace: the test
// asks it for a snapshot ("snap") or the page's sync marks ("marks") by a line on
// its stdin, and it answers with one JSON line.
type lossViewer struct {
	in  io.Writer
	out *bufio.Scanner
}

func startLossViewer(t *testing.T, ctx context.Context, ns, page string, d time.Duration) *lossViewer {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestLossChromiumHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "AVHOST_LOSS_PAGE="+page, "AVHOST_LOSS_FOR="+d.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if sc.Text() == "ready" {
			return &lossViewer{in: in, out: sc}
		}
		if strings.Contains(sc.Text(), "SKIP") || strings.Contains(sc.Text(), "FAIL") {
			break
		}
	}
	t.Fatalf("the Chromium viewer never played:\n%s", stderr.String())
	return nil
}

func (l *lossViewer) ask(t *testing.T, q string, v any) {
	t.Helper()
	fmt.Fprintln(l.in, q)
	for l.out.Scan() {
		if j, ok := strings.CutPrefix(l.out.Text(), q+" "); ok {
			if err := json.Unmarshal([]byte(j), v); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return
		}
	}
	t.Fatalf("the Chromium viewer ended before answering %q", q)
}

func (l *lossViewer) snap(t *testing.T) lossSnap {
	var s lossSnap
	l.ask(t, "snap", &s)
	return s
}

func (l *lossViewer) marks(t *testing.T) syncMarks {
	var m syncMarks
	l.ask(t, "marks", &m)
	return m
}

// TestLossChromiumHelper is the Chromium viewer of TestLossChromium, run in the
// viewer's namespace: it plays AVHOST_LOSS_PAGE, prints "ready", then answers
// "snap" and "marks" lines on stdin until it closes.
func TestLossChromiumHelper(t *testing.T) {
	page := os.Getenv("AVHOST_LOSS_PAGE")
	if page == "" {
		t.Skip("the Chromium viewer of TestLossChromium")
	}
	d, _ := time.ParseDuration(os.Getenv("AVHOST_LOSS_FOR"))
	ctx, _ := browserKill(t, max(d, time.Minute), secureOrigin(t, page))
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(s pageStats) bool { return s.FramesDecoded > 10 })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](gapWatchJS)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var v any
		var err error
		switch sc.Text() {
		case "snap":
			v, err = chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](lossSnapJS, chromedp.EvalAwaitPromise))
		case "marks":
			v, err = chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`window.avhostSync`))
		default:
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		fmt.Printf("%s %s\n", sc.Text(), j)
	}
}

// pageSyncErr is the median offset the page's fine sync measured between a and b.
func pageSyncErr(m syncMarks, a, b viewerSnap) string {
	var v []float64
	for i := a.NTP; i < b.NTP && i < len(m.SyncErr); i++ {
		if m.SyncErr[i] != nil {
			v = append(v, *m.SyncErr[i])
		}
	}
	if len(v) == 0 {
		return "nothing"
	}
	return fmt.Sprintf("%+.1f", pct(v, 0.5))
}

// pageTrims says how the page's jitter buffer targets moved between a and b.
func pageTrims(m syncMarks, a, b viewerSnap) string {
	if a.NTP >= b.NTP || b.NTP > len(m.Trims) {
		return "no targets"
	}
	f, l := m.Trims[a.NTP], m.Trims[b.NTP-1]
	steps := 0
	for i := a.NTP + 1; i < b.NTP; i++ {
		if m.Trims[i][0] != m.Trims[i-1][0] || m.Trims[i][1] != m.Trims[i-1][1] {
			steps++
		}
	}
	return fmt.Sprintf("targets video %.0f → %.0f ms, audio %.0f → %.0f ms in %d steps; Chrome's offset %+.0f → %+.0f ms", f[0], l[0], f[1], l[1], steps, f[2], l[2])
}
