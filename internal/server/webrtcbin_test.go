package server_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// TestWebrtcbinViewersAreFreed: two Chromium viewers of a webrtcbin session; one
// leaves (the page's WHEP DELETE), the other vanishes (its process killed). Each
// viewer's branch must leave the session pipeline, and the host's goroutines return to
// their baseline.
func TestWebrtcbinViewersAreFreed(t *testing.T) {
	testenv.RequireBrowser(t)
	h := encodingHost(t)
	webrtcbinSession(t, h, "wb")
	sess, err := h.srv.Sessions.Get("wb")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := h.srv.Viewers("wb")
	if err != nil {
		t.Fatal(err)
	}
	viewers := vs.(interface{ Viewers() int })
	elements := func() int { n, _ := sess.Pipeline().GetElements(); return len(n) }
	e0, g0 := elements(), runtime.NumGoroutine()

	var pages []context.Context
	var kills []func()
	for i := 0; i < 2; i++ {
		ctx, kill := browserKill(t, 2*time.Minute)
		if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?via=whep&session=wb#token="+token)); err != nil {
			t.Fatal(err)
		}
		pages, kills = append(pages, ctx), append(kills, kill)
	}
	for _, ctx := range pages {
		waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 && st.AudioSamples >= 4800 })
	}
	if n := viewers.Viewers(); n != 2 || elements() <= e0 {
		t.Fatalf("%d viewers, %d elements (baseline %d)", n, elements(), e0)
	}
	if err := chromedp.Do(pages[0], chromedp.Evaluate[chromedp.Void](`window.avhostLeave()`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return viewers.Viewers() == 1 }, "the viewer that left")
	kills[0]()
	start := time.Now()
	kills[1]()
	waitFor(t, 60*time.Second, func() bool { return viewers.Viewers() == 0 }, "the viewer that vanished")
	t.Logf("vanished webrtcbin viewer freed after %v", time.Since(start).Round(100*time.Millisecond))
	waitFor(t, 20*time.Second, func() bool { return elements() == e0 && runtime.NumGoroutine() <= g0 },
		"elements and goroutines back to baseline")
}
