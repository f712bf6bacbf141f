package server_test

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/doctor"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// browser starts Debian's headless chromium as the probe found it works here.
func browser(t *testing.T) context.Context {
	t.Helper()
	ctx, _ := browserKill(t, time.Minute)
	return ctx
}

// browserKill is browser for up to d, with a kill that ends the Chromium process at
// once, the way a viewer vanishes: no page unload, no DTLS close. extra adds to
// (or overrides) the flags below.
func browserKill(t *testing.T, d time.Duration, extra ...chromedp.ExecAllocatorOption) (context.Context, func()) {
	t.Helper()
	path := testenv.RequireBrowser(t)
	// Not t.TempDir: Chromium's helpers can still be writing there when the test ends,
	// and a failed removal would fail the test. Removed best effort instead.
	dir, err := os.MkdirTemp("", "avhost-chromium")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
	if inOwnNetns() {
		// Inside a test's network namespace, Chromium's registration of mDNS names
		// for its host candidates (.local, RFC 8835 §5.2) sometimes never completes:
		// gathering stays "gathering" with no candidate, so a page that waits for it
		// never sends its offer (the ICE-TCP test failed 7 of 10 runs so, 0 of 10
		// with this). avhost resolves no mDNS names anyway (a browser's .local host
		// candidates reach it as peer-reflexive), so the test browser hands out its
		// addresses instead, as a page with camera permission does.
		// chromedp's defaults disable two features by the same flag: keep them.
		opts = append(opts, chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"))
	}
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, d)
	t.Cleanup(cancel3)
	return ctx, cancel
}

// secureOrigin makes Chromium treat page's origin as a secure context, as it does
// http://127.0.0.1 and localhost. A test's page on a veth address (http://10.x) is
// not one, and the page's measurement mode needs one: AudioWorklet exists only in
// secure contexts (Web Audio API §1.32), so without this the beep detector never
// starts and the page hears no beep.
func secureOrigin(t *testing.T, page string) chromedp.ExecAllocatorOption {
	t.Helper()
	u, err := url.Parse(page)
	if err != nil || u.Host == "" {
		t.Fatalf("page %q: no origin (%v)", page, err)
	}
	return chromedp.Flag("unsafely-treat-insecure-origin-as-secure", u.Scheme+"://"+u.Host)
}

// inOwnNetns says whether this process runs in a named network namespace (a test's
// viewer namespace, entered with ip netns exec): the one whose file under
// /run/netns is the same namespace as ours, as ip netns identify finds it.
func inOwnNetns() bool {
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return false
	}
	named, _ := filepath.Glob("/run/netns/*")
	for _, n := range named {
		if fi, err := os.Stat(n); err == nil && os.SameFile(fi, self) {
			return true
		}
	}
	return false
}

// webrtcbinSession creates session id, served by the webrtcbin backend, through an
// ingest client that lives as long as the test.
func webrtcbinSession(t *testing.T, h *host, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dial(t, h).Create(ctx, id, &client.VideoFormat{Width: 128, Height: 128, FPS: "25", Format: "BGR"}, nil, client.WithBackend("webrtcbin")); err != nil {
		t.Fatal(err)
	}
}

// pageStats is window.avhostStats, what the page's player reports of itself.
type pageStats struct {
	FramesDecoded float64 `json:"framesDecoded"`
	AudioSamples  float64 `json:"audioSamples"`
	FPS           float64 `json:"fps"`
	RTT           float64 `json:"rttMs"`
	AVDiff        float64 `json:"avPlayoutDiffMs"`
}

// waitStats polls the page's stats until ok holds and returns them. The page's own
// state has no event to wait on, so polling it is the sync; the browser context's
// deadline bounds the wait.
func waitStats(t *testing.T, ctx context.Context, ok func(pageStats) bool) pageStats {
	t.Helper()
	var last pageStats
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageStats](`window.avhostStats || {}`))
		if err != nil {
			t.Fatalf("%v (last stats %+v)", err, last)
		}
		if ok(st) {
			return st
		}
		last = st
		select {
		case <-ctx.Done():
			t.Fatalf("page never played: %+v", st)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// marksOf reads window.avhostSync, the flash and beep times the page (opened with
// ?measure=1) records.
func marksOf(ctx context.Context) (syncMarks, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[syncMarks](`window.avhostSync`))
}

func TestChromiumPlaysTheSession(t *testing.T) {
	testenv.RequireBrowser(t)
	h := encodingHost(t)
	webrtcbinSession(t, h, "wb")
	for _, tc := range []struct{ backend, session string }{{"pion", "demo"}, {"webrtcbin", "wb"}} {
		for _, via := range []string{"ws", "whep"} {
			t.Run(tc.backend+" via "+via, func(t *testing.T) {
				ctx := browser(t)
				if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?via="+via+"&session="+tc.session+"#token="+token)); err != nil {
					t.Fatal(err)
				}
				st := waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded > 25 && st.AudioSamples > 48000 })
				t.Logf("chromium, %s backend via %s: %.0f frames decoded (%.0f fps), %.0f audio samples, RTT %.1f ms",
					tc.backend, via, st.FramesDecoded, st.FPS, st.AudioSamples, st.RTT)
			})
		}
	}
}

// TestChromiumChurnTIMEWAIT: Chromium opens and closes /ws 300 times. A browser
// follows RFC 6455 §7.1.1 and waits for the server to close TCP (for up to 2 s), so
// on browser paths avhost closes first and holds the TIME_WAIT — the opposite of its
// own clients (docs/connections.md). The test measures where they end up.
func TestChromiumChurnTIMEWAIT(t *testing.T) {
	testenv.RequireBrowser(t)
	h := startHost(t, nil)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/healthz")); err != nil {
		t.Fatal(err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
		let n = 0;
		for (let i = 0; i < 300; i++) {
			await new Promise(res => {
				const ws = new WebSocket('ws://' + location.host + '/ws');
				ws.onopen = () => ws.close(1000);
				ws.onclose = () => { n++; res(); };
			});
		}
		return n;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || n != 300 {
		t.Fatalf("%d cycles: %v", n, err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.web, "http://"))
	p, _ := strconv.Atoi(port)
	c, err := doctor.CountSockets("", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Chromium, 300 open/close cycles of /ws: TIME_WAIT server side %d, browser side %d", c.Local["TIME_WAIT"], c.Remote["TIME_WAIT"])
	if c.Local["TIME_WAIT"]+c.Remote["TIME_WAIT"] < 250 {
		t.Fatalf("only %d TIME_WAIT sockets after 300 cycles: the count is off", c.Local["TIME_WAIT"]+c.Remote["TIME_WAIT"])
	}
}
