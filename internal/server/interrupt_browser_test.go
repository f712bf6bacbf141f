package server_test

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// TestInterruptSilenceInChromium: from Interrupt() to silence at the browser's
// playout (Web Audio), over several interrupts; goal ≤ 60 ms median.
func TestInterruptSilenceInChromium(t *testing.T) {
	if os.Getenv("AVHOST_NO_BROWSER") != "" {
		t.Skip("AVHOST_NO_BROWSER set")
	}
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	ctx := browser(t)
	if err := chromedp.Run(ctx, chromedp.Navigate(h.web+"/?measure=1&via=whep")); err != nil {
		t.Fatal(err)
	}
	sess, _ := h.srv.Sessions.Get("demo")
	rate := sess.Config().Rate
	tone := make([]byte, 2*3*rate)
	for i := 0; i < 3*rate; i++ {
		binary.LittleEndian.PutUint16(tone[2*i:], uint16(int16(16000*math.Sin(2*math.Pi*440*float64(i)/float64(rate)))))
	}
	var m syncMarks
	poll := func(cond func() bool) {
		for !cond() {
			if err := chromedp.Run(ctx, chromedp.Evaluate(`window.avhostSync`, &m)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // polling the page's own state
		}
	}
	var lat []float64
	for k := uint32(1); k <= 6; k++ {
		if err := sess.Begin(k, pcm.Format{Type: pcm.S16, Rate: rate, Channels: 1}, -1); err != nil {
			t.Fatal(err)
		}
		sess.Audio(k, tone)
		sess.End(k)
		n := len(m.Beeps)
		poll(func() bool { return len(m.Beeps) > n })
		time.Sleep(300 * time.Millisecond) // let the tone play a while before the barge-in
		at := float64(time.Now().UnixNano()) / 1e6
		if _, _, ok := sess.Interrupt(); !ok {
			t.Fatal("nothing to interrupt")
		}
		poll(func() bool { return len(m.Quiet) > 0 && m.Quiet[len(m.Quiet)-1] > at })
		for _, q := range m.Quiet {
			if q > at {
				lat = append(lat, q-at)
				break
			}
		}
	}
	t.Logf("interrupt → silence at the browser over %d interrupts: median %.1f ms, p95 %.1f ms (%.0f)", len(lat), pct(lat, 0.5), pct(lat, 0.95), lat)
}
