package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// TestMetricsCountViewersOfBothBackends: avhost_webrtc_viewers reads the viewers
// through the backend-neutral contract, so a webrtcbin session's viewers count as a
// Pion session's do. The offers never connect: a viewer counts from its offer on.
func TestMetricsCountViewersOfBothBackends(t *testing.T) {
	h := viewersHost(t, nil)
	privateSession(t, h, "wb", "webrtcbin")
	offer := recvOffer(t)
	for _, c := range []struct {
		session, authz string
		n              int
	}{{"demo", "", 2}, {"wb", "Bearer " + viewerToken, 1}} {
		for i := 0; i < c.n; i++ {
			if r := do(t, "POST", h.web+"/whep/"+c.session, offer, sdpHeaders(c.authz)); r.status != 201 {
				t.Fatalf("WHEP offer to %s: %d %s", c.session, r.status, r.body)
			}
		}
	}
	r := do(t, "GET", h.web+"/metrics", "", map[string]string{"Authorization": "Bearer " + token})
	for _, want := range []string{`avhost_webrtc_viewers{session="demo"} 2`, `avhost_webrtc_viewers{session="wb"} 1`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(r.body, "avhost_webrtc_viewers"))
		}
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			fmt.Fprintln(&b, l)
		}
	}
	return b.String()
}

// TestMetricsViewerPath: a Pion viewer that sends receiver reports and a PLI shows
// in the session's path figures: one RTT observation (loopback: under 50 ms), one
// loss observation per track, one key frame request; and its leaving log line
// carries them.
func TestMetricsViewerPath(t *testing.T) {
	logs := &logBuf{}
	h := viewersHost(t, func(c *server.Config) { c.Log = slog.New(slog.NewTextHandler(logs, nil)) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := webrtctest.JoinWHEPCC(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitTracks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.SendPLI(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`avhost_webrtc_viewer_rtt_seconds_count{session="demo"} 1`,
		`avhost_webrtc_viewer_loss_ratio_count{kind="video",session="demo"} 1`,
		`avhost_webrtc_viewer_loss_ratio_count{kind="audio",session="demo"} 1`,
		`avhost_webrtc_keyframe_requests_total{session="demo"} 1`,
	}
	var body string
	for {
		body = do(t, "GET", h.web+"/metrics", "", nil).body
		missing := 0
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("/metrics lacks some of %q:\n%s", want, grepLines(body, "avhost_webrtc_"))
		case <-time.After(100 * time.Millisecond): // receiver reports come about once a second
		}
	}
	sum := regexp.MustCompile(`avhost_webrtc_viewer_rtt_seconds_sum\{session="demo"\} (\S+)`).FindStringSubmatch(body)
	if rtt, err := strconv.ParseFloat(sum[1], 64); err != nil || rtt <= 0 || rtt > 0.05 {
		t.Fatalf("loopback RTT %s s", sum[1])
	}
	t.Logf("RTT on loopback %s s", sum[1])
	r.Close()
	for {
		if l := logs.lines("viewer left"); len(l) > 0 {
			line := strings.Join(l, "")
			for _, k := range []string{"rtt_ms=", "video_lost=", "audio_lost=", "keyframe_requests=1"} {
				if !strings.Contains(line, k) {
					t.Fatalf("the viewer's leaving line lacks %s: %s", k, line)
				}
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("no viewer left line")
		case <-time.After(100 * time.Millisecond): // the host sees the close through ICE/DTLS
		}
	}
}

// TestMetricsLossNeedsReports: a connected viewer that sends no receiver reports (a
// minimal client, or a hostile one) adds no loss observation: a 0 it never reported
// would pull the session's loss histogram down. Its RTT stays out too.
func TestMetricsLossNeedsReports(t *testing.T) {
	h := viewersHost(t, nil)
	m := &webrtc.MediaEngine{}
	must(t, m.RegisterDefaultCodecs())
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	// An empty registry: Pion 4.2 adds its default interceptors (reports among
	// them) only when given none.
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(&interceptor.Registry{})).NewPeerConnection(webrtc.Configuration{})
	must(t, err)
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		must(t, err)
	}
	var got atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			got.Add(1)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := webrtctest.ExchangeWHEP(ctx, pc, h.web+"/whep/demo", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return got.Load() > 100 }, "media")
	// Three report intervals of a reporting viewer (TestMetricsViewerPath sees its
	// first within about a second): the window in which none must show.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		body := do(t, "GET", h.web+"/metrics", "", nil).body
		for _, w := range []string{`avhost_webrtc_viewer_loss_ratio_count{kind="video",session="demo"} 0`,
			`avhost_webrtc_viewer_loss_ratio_count{kind="audio",session="demo"} 0`, `avhost_webrtc_viewer_rtt_seconds_count{session="demo"} 0`} {
			if !strings.Contains(body, w) {
				t.Fatalf("want %s:\n%s", w, grepLines(body, "avhost_webrtc_viewer_"))
			}
		}
	}
}
