package server_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's headless chromium as the probe found it works here.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not installed (make test installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// cdproto lags Chromium 156 (unknown enum values); its decode noise is not ours.
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

type pageStats struct {
	FramesDecoded float64 `json:"framesDecoded"`
	AudioSamples  float64 `json:"audioSamples"`
	FPS           float64 `json:"fps"`
	RTT           float64 `json:"rttMs"`
	AVDiff        float64 `json:"avPlayoutDiffMs"`
}

func TestChromiumPlaysTheSession(t *testing.T) {
	if os.Getenv("AVHOST_NO_BROWSER") != "" {
		t.Skip("AVHOST_NO_BROWSER set")
	}
	h := encodingHost(t)
	for _, via := range []string{"ws", "whep"} {
		t.Run("via "+via, func(t *testing.T) {
			ctx := browser(t)
			if err := chromedp.Run(ctx, chromedp.Navigate(h.web+"/?token="+token+"&via="+via)); err != nil {
				t.Fatal(err)
			}
			var st pageStats
			for {
				if err := chromedp.Run(ctx, chromedp.Evaluate(`window.avhostStats || {}`, &st)); err != nil {
					t.Fatalf("%v (last stats %+v)", err, st)
				}
				if st.FramesDecoded > 25 && st.AudioSamples > 48000 {
					break
				}
				select {
				case <-ctx.Done():
					var state string
					chromedp.Run(context.Background(), chromedp.Evaluate(`window.avhostState`, &state))
					t.Fatalf("page never played: %+v", st)
				case <-time.After(250 * time.Millisecond):
				}
			}
			t.Logf("chromium via %s: %.0f frames decoded (%.0f fps), %.0f audio samples, RTT %.1f ms, A/V playout diff %.1f ms",
				via, st.FramesDecoded, st.FPS, st.AudioSamples, st.RTT, st.AVDiff)
		})
	}
}
