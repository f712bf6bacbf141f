package server_test

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// twccOffer is a recvonly offer with transport-wide CC, as browsers make: the host
// answers it with a GCC estimator, a NACK budget and a queue watch (the ladder is on
// by default). Its peer never does ICE.
func twccOffer(t testing.TB) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)).
		NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	return pc.LocalDescription().SDP
}

// TestUnfinishedTWCCOffersAreFreed: 100 offers with transport-wide CC whose peers
// never do ICE. Each viewer's GCC estimator runs goroutines of its own from its
// PeerConnection's start; after the connect deadline, the viewers, every goroutine
// and their heap are gone. It prints what each held.
func TestUnfinishedTWCCOffersAreFreed(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: 256, Height: 256, Ladder: "on"}
		c.MaxViewers, c.WebRTC.MaxViewers, c.WebRTC.ConnectTimeout = 150, 150, 3*time.Second
		noAnonymousCaps(c)
	})
	out, err := h.srv.Output("demo")
	if err != nil {
		t.Fatal(err)
	}
	offer := twccOffer(t)
	rep := do(t, "POST", h.web+"/whep/demo", offer, sdpHeaders(""))
	if rep.status != 201 {
		t.Fatalf("warm-up offer: %d %s", rep.status, rep.body)
	}
	if !strings.Contains(rep.body, "transport-wide-cc") {
		t.Fatal("the answer has no transport-wide CC: the test does not reach GCC")
	}
	waitFor(t, 15*time.Second, func() bool { return out.Viewers() == 0 }, "the warm-up viewer")
	http.DefaultClient.CloseIdleConnections()
	g0 := runtime.NumGoroutine()
	heap := func() float64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20)
	}
	runtime.GC()
	heap0, heapPeak := heap(), 0.0

	const n, conc = 100, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, peak := 0, 0
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / conc {
				if rep, _ := request("POST", h.web+"/whep/demo", offer, sdpHeaders("")); rep.status == 201 {
					mu.Lock()
					created++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if created != n {
		t.Fatalf("%d of %d offers answered", created, n)
	}
	held := out.Viewers()
	waitFor(t, 60*time.Second, func() bool {
		peak, heapPeak = max(peak, runtime.NumGoroutine()), max(heapPeak, heap())
		return out.Viewers() == 0
	}, "every unfinished viewer freed by the deadline")
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, 15*time.Second, func() bool { return runtime.NumGoroutine() <= g0+5 }, "goroutines back to the baseline")
	runtime.GC()
	debug.FreeOSMemory()
	t.Logf("%d unfinished TWCC offers: goroutines %d → %d (holding %d viewers, %.0f each) → %d; Go heap in use %.1f → %.1f (%.0f KiB a viewer) → %.1f MiB",
		n, g0, peak, held, float64(peak-g0)/float64(held), runtime.NumGoroutine(),
		heap0, heapPeak, (heapPeak-heap0)*1024/float64(held), heap())
	if h := heap(); h > heap0+10 {
		t.Fatalf("Go heap in use %.1f MiB after the offers were freed, baseline %.1f MiB", h, heap0)
	}
}
