package server_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestLadderChromiumUnderABottleneck is TestLadderUnderABottleneck with Chromium
// (the demo page over WHEP) as the limited viewer: Chrome's own transport-wide CC
// feedback, NACKs, PLIs and jitter buffer across switches with a change of size.
// Besides the Pion run's checks, its player must show no freeze longer than 300 ms
// once on a rung that fits, nor while climbing back. About 45 s, so behind
// AVHOST_LADDER_CHROMIUM (make bench runs it at 600 and 300 kbit/s).
// AVHOST_LADDER_BACKEND=webrtcbin serves the session with the webrtcbin backend
// instead: figures, and only what must hold without congestion control
// (webrtcbinBottleneck).
func TestLadderChromiumUnderABottleneck(t *testing.T) {
	if os.Getenv("AVHOST_LADDER_CHROMIUM") == "" {
		t.Skip("about 45 s: AVHOST_LADDER_CHROMIUM=1 runs it (make bench)")
	}
	if !inPrivateNetns(t) {
		return
	}
	join := func(t *testing.T, ns, web string) *ladderViewer {
		return startViewerProc(t, ns, "TestLadderChromiumHelper", "AVHOST_LADDER_PAGE="+web+"/?via=whep")
	}
	if ladderBackend(t) == "webrtcbin" {
		webrtcbinBottleneck(t, join)
		return
	}
	ladderBottleneck(t, join)
}

// ladderStatsJS keeps, in the page, Chrome's inbound video figures read every
// 100 ms, and counts the freezes longer than 300 ms: Chrome reports only their
// number and total, but a freeze lasts at least 150 ms, so no two end within one
// reading and each new one's length is the total's step.
const ladderStatsJS = `(() => {
  const s = window.avhostLadder = {freezes: 0, long: 0, freezeMs: 0};
  setInterval(async () => {
    (await window.avhostPC.getStats()).forEach(r => {
      if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
      const n = r.freezeCount || 0, ms = 1000 * (r.totalFreezesDuration || 0);
      if (n === s.freezes + 1 && ms - s.freezeMs > 300) s.long++;
      else if (n > s.freezes + 1 && ms - s.freezeMs > 300) s.long += n - s.freezes; // cannot tell: all count
      Object.assign(s, {freezes: n, freezeMs: ms, packets: r.packetsReceived || 0,
        expected: (r.packetsReceived || 0) + (r.packetsLost || 0), bytes: r.bytesReceived || 0,
        frames: r.framesDecoded || 0, keyFrames: r.keyFramesDecoded || 0, width: r.frameWidth || 0, nacks: r.nackCount || 0, plis: r.pliCount || 0,
        delayMs: r.jitterBufferEmittedCount ? 1000 * r.jitterBufferDelay / r.jitterBufferEmittedCount : 0,
        jb: r.jitterBufferDelay || 0, jbn: r.jitterBufferEmittedCount || 0});
    });
    (await window.avhostPC.getStats()).forEach(r => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') Object.assign(s, {aConcealed: r.concealedSamples || 0, aSamples: r.totalSamplesReceived || 0});
    });
  }, 100);
  return true;
})()`

// TestLadderChromiumHelper is Chromium playing AVHOST_LADDER_PAGE, run in the limited
// viewer's namespace: "ready" once it decodes, then its figures every 200 ms (as
// TestLadderViewerHelper) until stdin closes.
func TestLadderChromiumHelper(t *testing.T) {
	page := os.Getenv("AVHOST_LADDER_PAGE")
	if page == "" {
		t.Skip("the Chromium viewer of TestLadderChromiumUnderABottleneck")
	}
	ctx, _ := browserKill(t, 3*time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		st, err := chromedp.Run(wctx, chromedp.Evaluate[pageStats](`window.avhostStats || {}`))
		if err == nil && st.FramesDecoded > 25 {
			break
		}
		if wctx.Err() != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pcStateJS, chromedp.EvalAwaitPromise))
			t.Fatalf("page never played (%v): %+v; %s", err, st, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](ladderStatsJS)); err != nil {
		t.Fatal(err)
	}
	read := func() viewerStat {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[viewerStat](`window.avhostLadder`))
		s.At = time.Now().UnixMilli()
		return s
	}
	waitFor(t, 5*time.Second, func() bool { return read().Packets > 0 }, "the page's first figures")
	os.Stdout.WriteString("ready\n")
	untilStdinCloses(read)
}
