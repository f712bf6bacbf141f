package server_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/webrtctest"
	"github.com/avhost/avhost/internal/whip"
)

// These tests publish a session by WHIP into a real MediaMTX (scripts/mediamtx.sh builds
// it into build/mediamtx; `make test` does that first) and read it back through
// MediaMTX's RTSP and WHEP, as a deployment that puts avhost behind a media server does.

var framesRe = regexp.MustCompile(`(?m)^(h264|opus),([0-9]+)$`)

// TestMediaMTXServesTheWHIPPublishedSession publishes the demo session into MediaMTX
// and reads it back through MediaMTX's RTSP (ffprobe decodes both streams) and WHEP
// (a Pion viewer, in sync like a viewer of avhost itself).
func TestMediaMTXServesTheWHIPPublishedSession(t *testing.T) {
	m := startMediaMTX(t)
	h := mediamtxHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("a publish with a wrong key is refused by MediaMTX", func(t *testing.T) {
		publishTo(t, h.web, "demo", m, "avhost:wrong-key")
		var st whip.Status
		waitFor(t, 10*time.Second, func() bool { _, st = publishStatus(t, h); return st.Failures > 0 }, "a failed attempt")
		// MediaMTX v1.14 answers a failed WHIP login 400, not 401: its handler tests the
		// wrong error variable (internal/servers/webrtc/http_server.go, onWHIPPost).
		if st.Connected || !strings.Contains(st.LastError, "answered 4") {
			t.Fatalf("publisher status %+v, want a 4xx refusal", st)
		}
	})

	start := time.Now()
	publishTo(t, h.web, "demo", m, mediamtxKey)
	rtspURL := "rtsp://" + m.rtsp + "/" + mediamtxPath
	up, at, err := firstKeyFrame(ctx, rtspURL)
	if err != nil {
		t.Fatalf("no key frame through MediaMTX's RTSP: %v", err)
	}
	t.Logf("publish → stream at MediaMTX's RTSP %v, first key frame %v (it waits for the next GOP)",
		up.Sub(start).Round(time.Millisecond), at.Sub(start).Round(time.Millisecond))

	t.Run("ffprobe decodes both streams through MediaMTX's RTSP", func(t *testing.T) {
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		defer pcancel()
		out, err := exec.CommandContext(pctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+3",
			"-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", rtspURL).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, f := range framesRe.FindAllStringSubmatch(string(out), -1) {
			got[f[1]] = f[2]
		}
		if got["h264"] == "" || got["h264"] == "0" || got["opus"] == "" || got["opus"] == "0" {
			t.Fatalf("want decoded h264 and opus frames, got %q", out)
		}
		t.Logf("ffprobe through MediaMTX, 3 s: %s decoded H.264 frames, %s Opus frames", got["h264"], got["opus"])
	})

	t.Run("a WHEP viewer of MediaMTX is in sync like a direct one", func(t *testing.T) {
		// MediaMTX v1.14's Sender Reports to WHEP readers put H.264 a minute off
		// (internal/protocols/webrtc/from_stream.go: ntp.Add(-1*time.Minute)), so a
		// receiver cannot sync by them. What MediaMTX adds is measured instead: two taps,
		// one on avhost and one on MediaMTX, see the same packets, and MediaMTX's extra
		// delay per track shifts the direct viewer's A/V offset (by avhost's SRs).
		direct, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close()
		dtap, err := joinTap(ctx, h.web+"/whep/demo")
		if err != nil {
			t.Fatal(err)
		}
		defer dtap.close()
		rtap, err := joinTap(ctx, "http://"+m.web+"/"+mediamtxPath+"/whep")
		if err != nil {
			t.Fatal(err)
		}
		defer rtap.close()
		waitFor(t, 30*time.Second, func() bool {
			return len(direct.Reports(true)) >= 5 && len(direct.Reports(false)) >= 5 && len(direct.Arrived(false)) >= 500 &&
				rtap.keyFrames() >= 3 && dtap.keyFrames() >= 3
		}, "five Sender Reports per track and three key frames on both taps")
		do, dv, da, err := avOffset(direct)
		if err != nil {
			t.Fatal(err)
		}
		vd, ad, err := relayDelay(dtap, rtap)
		if err != nil {
			t.Fatal(err)
		}
		ro := do + ad - vd
		t.Logf("A/V offset (audio lag − video lag): direct %+.1f ms by avhost's SRs (video %.1f, audio %.1f); MediaMTX adds video %+.2f ms, audio %+.2f ms (median) → %+.1f ms through MediaMTX",
			do, dv, da, vd, ad, ro)
		if d := ad - vd; d < -20 || d > 20 {
			t.Fatalf("MediaMTX's WHEP shifts audio against video by %+.1f ms", d)
		}
	})
}

// TestMediaMTXRestartResumesPublishing stops MediaMTX while avhost publishes into it
// and starts it again on the same ports at once: the publication comes back on its own,
// within the 5 s issue 13 asks for, and a viewer of avhost itself plays throughout.
// Killed (SIGKILL), MediaMTX says nothing: avhost's publisher hears no answer to its
// consent checks (every 500 ms) and no RTCP, calls the connection silent after 1 s
// (the publisher's own ICE timing, rtcout/publish.go), gives it 1 s more
// (whip.Config.Silence) and publishes anew. Stopped (SIGTERM), MediaMTX closes the
// connection and avhost republishes at once.
func TestMediaMTXRestartResumesPublishing(t *testing.T) {
	m := startMediaMTX(t)
	h := mediamtxHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	direct, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if err := direct.WaitTracks(ctx); err != nil {
		t.Fatal(err)
	}
	// The direct viewer's longest silence, sampled every 50 ms until the test ends.
	var maxGap atomic.Int64
	gapDone := make(chan struct{})
	stopGap := make(chan struct{})
	go func() {
		defer close(gapDone)
		last, lastAt := direct.VideoPackets.Load(), time.Now()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopGap:
				return
			case now := <-tick.C:
				if n := direct.VideoPackets.Load(); n != last {
					last, lastAt = n, now
				} else if g := now.Sub(lastAt); int64(g) > maxGap.Load() {
					maxGap.Store(int64(g))
				}
			}
		}
	}()
	defer func() { close(stopGap); <-gapDone }()

	publishTo(t, h.web, "demo", m, mediamtxKey)
	rtspURL := "rtsp://" + m.rtsp + "/" + mediamtxPath
	if _, _, err := firstKeyFrame(ctx, rtspURL); err != nil {
		t.Fatalf("no key frame through MediaMTX before the restart: %v", err)
	}
	for _, c := range []struct {
		name   string
		sig    syscall.Signal
		within time.Duration // stream back at MediaMTX's RTSP, after the restart
	}{
		{"killed, MediaMTX gets the publication back once its silence is noticed", syscall.SIGKILL, 5 * time.Second},
		{"stopped, MediaMTX gets the publication back at once", syscall.SIGTERM, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, st0 := publishStatus(t, h)
			v0 := direct.VideoPackets.Load()
			maxGap.Store(0)
			m.stop(c.sig)
			restarted := time.Now()
			m.start(t)
			up, at, err := firstKeyFrame(ctx, rtspURL)
			if err != nil {
				t.Fatalf("publishing did not resume after MediaMTX's restart: %v", err)
			}
			_, st := publishStatus(t, h)
			gap := time.Duration(maxGap.Load())
			t.Logf("MediaMTX %v and restarted: stream back at its RTSP %v after the restart, first key frame %v (the next GOP; %d WHIP POSTs); direct viewer: %d video packets meanwhile, longest gap %v",
				c.sig, up.Sub(restarted).Round(time.Millisecond), at.Sub(restarted).Round(time.Millisecond), st.Attempts-st0.Attempts,
				direct.VideoPackets.Load()-v0, gap.Round(time.Millisecond))
			if gap > time.Second {
				t.Errorf("the direct viewer stalled for %v while MediaMTX restarted", gap)
			}
			if d := up.Sub(restarted); d > c.within {
				t.Errorf("publishing resumed %v after MediaMTX's restart, want within %v", d, c.within)
			}
		})
	}
}
