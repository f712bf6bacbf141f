package player_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// BenchmarkInject4KBGR: frames handed to singleframesrc per second (one copy each).
func BenchmarkInject4KBGR(b *testing.B) {
	gsttest.Init()
	e, err := gst.NewElementWithProperties("singleframesrc", map[string]interface{}{"width": 3840, "height": 2160})
	if err != nil {
		b.Fatal(err)
	}
	src, _ := singleframesrc.FromElement(e)
	frame := make([]byte, src.FrameSize())
	for i := range frame {
		frame[i] = byte(i)
	}
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := src.SetIdle(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

// BenchmarkAudioChunk: Go allocations per emitted chunk of a playing utterance,
// through the element into a real pipeline.
func BenchmarkAudioChunk(b *testing.B) {
	gsttest.Init()
	p, err := gst.NewPipelineFromString("pcmslicesrc name=a is-live=false ! fakesink sync=false")
	if err != nil {
		b.Fatal(err)
	}
	defer p.SetState(gst.StateNull)
	ae, _ := p.GetElementByName("a")
	src, _ := pcmslicesrc.FromElement(ae)
	a, _ := src.Timeline()
	u, err := a.Begin(40*time.Millisecond, pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1})
	if err != nil {
		b.Fatal(err)
	}
	// Enough audio for the whole run, queued before timing.
	n := b.N + 10
	if err := a.Write(context.Background(), u, make([]byte, 2*480*min(n, 1400))); err != nil {
		b.Fatal(err)
	}
	a.End(u)
	p.SetState(gst.StatePlaying)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	<-u.Done()
	runtime.ReadMemStats(&m1)
	chunks := float64(a.Stats().Chunks)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/chunks, "allocs/chunk")
}

// BenchmarkLiveSession: CPU of one live 512×512@25 session with H.264 + Opus encode,
// as a share of one core, idle frame and silence (the encoders' floor) for 10 s.
func BenchmarkLiveSession(b *testing.B) {
	gsttest.Init()
	for i := 0; i < b.N; i++ {
		p, err := gst.NewPipelineFromString(
			"singleframesrc width=512 height=512 framerate=25/1 ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast ! fakesink " +
				"pcmslicesrc rate=48000 ! audioconvert ! opusenc frame-size=20 ! fakesink")
		if err != nil {
			b.Fatal(err)
		}
		p.SetState(gst.StatePlaying)
		time.Sleep(time.Second) // warm-up, not synchronisation: the figure is a rate over the window below
		c0, w0 := procstat.CPU(), time.Now()
		time.Sleep(10 * time.Second)
		c1, w1 := procstat.CPU(), time.Now()
		p.SetState(gst.StateNull)
		b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0)), "%core/session")
	}
}
