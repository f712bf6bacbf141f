package server_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/stream"
)

// viewerSnap is the Chromium viewer's cumulative getStats (inbound-rtp) at one moment.
type viewerSnap struct {
	At        float64 `json:"at"` // wall ms
	Freezes   float64 `json:"freezes"`
	FreezeMS  float64 `json:"freezeMs"`
	Frames    float64 `json:"frames"`
	Concealed float64 `json:"concealed"`
	Samples   float64 `json:"samples"`
	NTP       int     `json:"ntp"` // entries in avhostSync.ntpDiff so far
}

// snapJS reads the page's PeerConnection directly, so it does not depend on which
// figures the page itself publishes.
const snapJS = `(async () => {
  const o = {at: performance.timeOrigin + performance.now(), ntp: window.avhostSync ? window.avhostSync.ntpDiff.length : 0};
  const pc = window.avhostPC; if (!pc) return o;
  (await pc.getStats()).forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    if (r.kind === 'video') { o.freezes = r.freezeCount || 0; o.freezeMs = 1000 * (r.totalFreezesDuration || 0); o.frames = r.framesDecoded || 0; }
    if (r.kind === 'audio') { o.concealed = r.concealedSamples || 0; o.samples = r.totalSamplesReceived || 0; }
  });
  return o;
})()`

func snapViewer(ctx context.Context) (viewerSnap, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[viewerSnap](snapJS, chromedp.EvalAwaitPromise))
}

// phase is what the viewer saw between two snapshots.
type phase struct {
	Freezes, FreezeMS float64
	ConcealedPct      float64
	FPS               float64
	AVMedian          float64 // rVFC flash vs AudioWorklet beep, as TestLipSyncInChromium
	AVPairs           int
	ChromeAV          float64 // Chrome's estimatedPlayoutTimestamp video − audio
	LatencyMedian     float64
}

func viewerPhase(a, b viewerSnap, m syncMarks, t0 float64) phase {
	var fl []float64
	for _, f := range m.Flashes {
		if f >= a.At && f < b.At {
			fl = append(fl, f)
		}
	}
	p := phase{Freezes: b.Freezes - a.Freezes, FreezeMS: b.FreezeMS - a.FreezeMS,
		FPS: 1000 * (b.Frames - a.Frames) / (b.At - a.At), AVMedian: math.NaN(), ChromeAV: math.NaN(), LatencyMedian: math.NaN()}
	if d := b.Samples - a.Samples; d > 0 {
		p.ConcealedPct = 100 * (b.Concealed - a.Concealed) / d
	}
	offsets, lat := pairOffsets(fl, m.Beeps, t0)
	p.AVPairs = len(offsets)
	if len(offsets) > 0 {
		p.AVMedian, p.LatencyMedian = pct(offsets, 0.5), pct(lat, 0.5)
	}
	if b.NTP <= len(m.NTP) && b.NTP > a.NTP {
		p.ChromeAV = pct(m.NTP[a.NTP:b.NTP], 0.5)
	}
	return p
}

// condition is the windows of one kind, quiet or flooded, of a flood run.
type condition struct {
	windows []window
	late    lateness // over all its windows
}

func (c *condition) add(w window) { c.windows = append(c.windows, w) }

// phases works out from the page's marks what the viewer saw in each window.
func (c *condition) phases(m syncMarks, t0 float64) {
	for i := range c.windows {
		w := &c.windows[i]
		w.phase = viewerPhase(w.a, w.b, m, t0)
	}
}

// sum is what the viewer saw over all the windows: freezes and concealed samples
// added up; the A/V offset, Chrome's estimate and the latency as the mean of the
// windows' medians (a window with none is left out), so each window weighs the same
// whichever vsync mode it caught.
func (c *condition) sum() phase {
	var p phase
	var concealed, samples, frames, ms float64
	var av, chrome, lat []float64
	for _, w := range c.windows {
		p.Freezes, p.FreezeMS, p.AVPairs = p.Freezes+w.Freezes, p.FreezeMS+w.FreezeMS, p.AVPairs+w.AVPairs
		concealed, samples = concealed+w.b.Concealed-w.a.Concealed, samples+w.b.Samples-w.a.Samples
		frames, ms = frames+w.b.Frames-w.a.Frames, ms+w.b.At-w.a.At
		av, chrome, lat = append(av, w.AVMedian), append(chrome, w.ChromeAV), append(lat, w.LatencyMedian)
	}
	if samples > 0 {
		p.ConcealedPct = 100 * concealed / samples
	}
	if ms > 0 {
		p.FPS = 1000 * frames / ms
	}
	p.AVMedian, p.ChromeAV, p.LatencyMedian = mean(av), mean(chrome), mean(lat)
	return p
}

// mean of the numbers in v that are not NaN; NaN when there are none.
func mean(v []float64) float64 {
	var s float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			s, n = s+x, n+1
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// cpu is the server's CPU over the windows, in % of a core.
func (c *condition) cpu() float64 {
	v := make([]float64, len(c.windows))
	for i, w := range c.windows {
		v[i] = w.cpu
	}
	return mean(v)
}

// threads adds up the windows' CPU and run-queue wait by thread name.
func (c *condition) threads() map[string]threadTime {
	out := map[string]threadTime{}
	for _, w := range c.windows {
		for k, v := range w.threads {
			s := out[k]
			out[k] = threadTime{N: max(s.N, v.N), CPU: s.CPU + v.CPU, Wait: s.Wait + v.Wait}
		}
	}
	return out
}

// sched is the Go runtime's view of the windows together (see goSched.since).
func (c *condition) sched() string {
	if len(c.windows) == 0 {
		return "no windows"
	}
	g := c.windows[0].g1
	from := goSched{counts: make([]uint64, len(g.counts)), bounds: g.bounds}
	to := goSched{counts: make([]uint64, len(g.counts)), bounds: g.bounds}
	for _, w := range c.windows {
		to.gcs, to.pause = to.gcs+w.g1.gcs-w.g0.gcs, to.pause+w.g1.pause-w.g0.pause
		for i := range to.counts {
			to.counts[i] += w.g1.counts[i] - w.g0.counts[i]
		}
	}
	return to.since(from)
}

// trace lists the bad seconds of every window, each with its window's number.
func (c *condition) trace() []string {
	var out []string
	for i, w := range c.windows {
		for _, s := range w.trace {
			out = append(out, fmt.Sprintf("window %d at %s", i+1, s))
		}
	}
	return out
}

// threadTime is CPU time and run-queue wait (from /proc/self/task/*/schedstat) of
// this process's threads of one name: Go's threads carry the binary's name,
// GStreamer's streaming threads their pad's (e.g. "x264enc0:src").
type threadTime struct {
	N         int
	CPU, Wait time.Duration
}

func threadTimes() map[string]threadTime {
	out := map[string]threadTime{}
	dirs, _ := filepath.Glob("/proc/self/task/*")
	for _, d := range dirs {
		comm, err1 := os.ReadFile(d + "/comm")
		ss, err2 := os.ReadFile(d + "/schedstat")
		f := strings.Fields(string(ss))
		if err1 != nil || err2 != nil || len(f) < 2 {
			continue
		}
		cpu, _ := strconv.ParseInt(f[0], 10, 64)
		wait, _ := strconv.ParseInt(f[1], 10, 64)
		name := strings.TrimSpace(string(comm))
		t := out[name]
		t.N++
		t.CPU += time.Duration(cpu)
		t.Wait += time.Duration(wait)
		out[name] = t
	}
	return out
}

// threadDelta is b − a by name (threads that ended in between are lost, which only
// makes a figure smaller).
func threadDelta(a, b map[string]threadTime) map[string]threadTime {
	out := map[string]threadTime{}
	for k, v := range b {
		w := a[k]
		out[k] = threadTime{N: v.N, CPU: max(0, v.CPU-w.CPU), Wait: max(0, v.Wait-w.Wait)}
	}
	return out
}

// topThreads names the busiest thread groups with their CPU and run-queue wait per
// second of the phase.
func topThreads(m map[string]threadTime, secs float64, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]].CPU+m[keys[i]].Wait > m[keys[j]].CPU+m[keys[j]].Wait })
	var b strings.Builder
	for i, k := range keys {
		if i == n {
			break
		}
		t := m[k]
		fmt.Fprintf(&b, " %s×%d cpu %.0f%% wait %.1f ms/s;", k, t.N, 100*t.CPU.Seconds()/secs, 1000*t.Wait.Seconds()/secs)
	}
	return b.String()
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// goSched is the Go runtime's view of a phase: GC cycles and pauses, and how long
// goroutines waited to run (runtime/metrics /sched/latencies), which is where a flood
// shows first when it crowds out the goroutines that send media.
type goSched struct {
	gcs    int64
	pause  time.Duration
	counts []uint64
	bounds []float64
}

func readGoSched() goSched {
	var gc debug.GCStats
	debug.ReadGCStats(&gc)
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	h := s[0].Value.Float64Histogram()
	return goSched{gcs: gc.NumGC, pause: gc.PauseTotal, counts: append([]uint64(nil), h.Counts...), bounds: h.Buckets}
}

// since describes b − a: GC cycles, total pause, and scheduling latency p99 / max bucket.
func (b goSched) since(a goSched) string {
	var n uint64
	d := make([]uint64, len(b.counts))
	for i := range d {
		d[i] = b.counts[i] - a.counts[i]
		n += d[i]
	}
	q := func(p float64) float64 { // upper bound of the bucket holding quantile p, in ms
		var c uint64
		for i, v := range d {
			if c += v; float64(c) >= p*float64(n) {
				return 1000 * b.bounds[i+1]
			}
		}
		return math.NaN()
	}
	worst := math.NaN()
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] > 0 {
			worst = 1000 * b.bounds[i+1]
			break
		}
	}
	return fmt.Sprintf("GC %d, %.0f ms paused; run wait p99 %.2f ms, max %.0f ms", b.gcs-a.gcs, float64(b.pause-a.pause)/1e6, q(0.99), worst)
}

// memWatch samples RSS, goroutines and threads every 200 ms and keeps the peaks.
type memWatch struct {
	mu           sync.Mutex
	peak         int
	peakG, peakT int
}

func (m *memWatch) watch() (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			r, g, th := procstat.RSSKB(0), runtime.NumGoroutine(), threadCount()
			m.mu.Lock()
			m.peak, m.peakG, m.peakT = max(m.peak, r), max(m.peakG, g), max(m.peakT, th)
			m.mu.Unlock()
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

func (m *memWatch) reset() {
	m.mu.Lock()
	m.peak, m.peakG, m.peakT = 0, 0, 0
	m.mu.Unlock()
}

func (m *memWatch) peaks() (rssKB, goroutines, threads int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak, m.peakG, m.peakT
}

// threadCount is this process's thread count (/proc/self/status).
func threadCount() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Threads:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// goMem says where the Go runtime's share of RSS is: live heap, heap freed but not yet
// returned to the OS, stacks.
func goMem() string {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return fmt.Sprintf("heap in use %.0f MiB, idle unreturned %.0f MiB, stacks %.0f MiB, %d goroutines",
		float64(m.HeapInuse)/(1<<20), float64(m.HeapIdle-m.HeapReleased)/(1<<20), float64(m.StackSys)/(1<<20), runtime.NumGoroutine())
}

// rssByMapping sums /proc/self/smaps' Rss by kind of mapping: the C heap ([heap] and
// glibc's anonymous arenas cannot be told apart from Go's here, so anonymous mappings
// are split by size: Go maps its heap in 64 MiB arenas).
func rssByMapping() string {
	b, _ := os.ReadFile("/proc/self/smaps")
	kinds := map[string]int{}
	kind := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && len(f) >= 5 { // a mapping's header line
			kind = "anon"
			if len(f) >= 6 {
				kind = f[5]
				if strings.HasPrefix(kind, "/") {
					kind = "files"
				}
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			n, _ := strconv.Atoi(f[1])
			kinds[kind] += n
		}
	}
	var parts []string
	for k, v := range kinds {
		if v >= 1024 {
			parts = append(parts, fmt.Sprintf("%s %.0f MiB", k, mib(v)))
		}
	}
	return strings.Join(parts, ", ")
}

func mib(kb int) float64 { return float64(kb) / 1024 }

// lateness collects, per track, how long after its place on the timeline (the Sender
// Report wall time of its running time) each encoded sample reached a stream reader: a
// server-side delay shows here, a browser-side one does not.
type lateness struct {
	mu           sync.Mutex
	video, audio []time.Duration
}

func (l *lateness) add(m *stream.Unit) {
	d := time.Since(m.NTP)
	l.mu.Lock()
	if m.Video {
		l.video = append(l.video, d)
	} else {
		l.audio = append(l.audio, d)
	}
	l.mu.Unlock()
}

func (l *lateness) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := func(v []time.Duration) string {
		if len(v) == 0 {
			return "none"
		}
		slices.Sort(v)
		q := func(p float64) float64 { return float64(v[int(p*float64(len(v)-1))]) / 1e6 }
		return fmt.Sprintf("p50 %.1f, p95 %.1f, max %.1f ms (%d)", q(0.5), q(0.95), q(1), len(v))
	}
	return "video " + f(l.video) + "; audio " + f(l.audio)
}
