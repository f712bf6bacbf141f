package server_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
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
	return deadOffer(t, webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(loopbackSettings())))
}

// ccViewer is a connected viewer of h's demo session that sends transport-wide CC
// feedback (a browser's interceptors), its tracks arrived; closed with the test.
func ccViewer(t *testing.T, h *host) *webrtctest.Receiver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := webrtctest.JoinWHEPCC(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.WaitTracks(ctx); err != nil {
		t.Fatal(err)
	}
	return r
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

	const n = 100
	peak := 0
	if created, _, _ := tally(postConcurrently(offer, repeat(h.web+"/whep/demo", n), 10)); created != n {
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

// TestTWCCFloodCostIsBounded: a connected viewer sends 200 datagrams a second of
// 1.1 KB each (1.8 Mbit/s), first of application-defined RTCP that nothing reads,
// then of transport-wide CC feedback built to cost GCC the most per byte (each
// reports 65535 packets lost in runs of 250). The host's CPU for the second must
// stay near the first's: what a viewer's feedback costs grows with its bytes, not
// with the packets it claims to report. Measured without the queue watch's budget:
// 0.72-0.76 s a second against 0.12-0.15 s; with it, 0.13-0.15 s.
func TestTWCCFloodCostIsBounded(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: 256, Height: 256, Ladder: "on"}
	})
	r := ccViewer(t, h)
	// RTCP reaches the host's track its packets name (pion's SRTCP session routes
	// by destination SSRC).
	var ssrc uint32
	for _, tr := range r.PC.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeVideo && tr.Receiver() != nil && tr.Receiver().Track() != nil {
			ssrc = uint32(tr.Receiver().Track().SSRC())
		}
	}
	if ssrc == 0 {
		t.Fatal("no video SSRC")
	}
	hostile := func() []rtcp.Packet {
		var pkts []rtcp.Packet
		for range 2 {
			fb := &rtcp.TransportLayerCC{MediaSSRC: ssrc, PacketStatusCount: 65535, ReferenceTime: 1}
			for left := 65535; left > 0; left -= 250 {
				fb.PacketChunks = append(fb.PacketChunks, &rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: uint16(min(250, left))})
			}
			fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(fb.MarshalSize()/4 - 1)}
			pkts = append(pkts, fb)
		}
		return pkts
	}()
	filler := []rtcp.Packet{&rtcp.ApplicationDefined{SSRC: ssrc, Name: "fill", Data: make([]byte, 1080)}}
	// flood sends pkts 200 times a second for 3 s and returns the process's CPU time a
	// second meanwhile (the host's and this viewer's: the viewer's is the same in both).
	flood := func(pkts []rtcp.Packet) time.Duration {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		cpu0, start := procstat.CPU(), time.Now()
		for time.Since(start) < 3*time.Second {
			<-tick.C
			if err := r.PC.WriteRTCP(pkts); err != nil {
				t.Fatal(err)
			}
		}
		return time.Duration(float64(procstat.CPU()-cpu0) / time.Since(start).Seconds())
	}
	b, _ := rtcp.Marshal(hostile)
	var base, cost []time.Duration
	for range 2 { // alternated: a busy neighbour on the host hits both
		base = append(base, flood(filler))
		cost = append(cost, flood(hostile))
	}
	t.Logf("CPU a second with 200 datagrams a second of %d bytes: filler %v, %v; TWCC built to cost the most %v, %v",
		len(b), base[0].Round(time.Millisecond), base[1].Round(time.Millisecond), cost[0].Round(time.Millisecond), cost[1].Round(time.Millisecond))
	if c, b := min(cost[0], cost[1]), max(base[0], base[1]); c > b+200*time.Millisecond {
		t.Errorf("the feedback flood costs %v a second, the filler %v: over 0.2 s more", c, b)
	}
	if r.PC.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Errorf("the viewer is %s after the flood", r.PC.ConnectionState())
	}
}

// TestRTCPNamingUnknownSSRCsHoldsNoMemory: a connected viewer sends receiver
// reports whose 31 blocks each name an SSRC nobody sends (100 datagrams a second
// of 752 bytes). Pion's SRTCP session opens a read stream, with its buffer, for
// every SSRC it has not seen, and the PeerConnection keeps each unhandled one until
// it closes (pion/webrtc peerconnection.go, undeclaredRTCPMediaProcessor): before
// the cap, 3 s of it grew the heap by 25 MiB for 225 KB sent, held while the viewer
// stayed. Now the viewer is dropped once its packets open more than
// rtcout.maxRemoteStreams streams (an honest one opens a handful), and what it
// made the host hold goes with it.
func TestRTCPNamingUnknownSSRCsHoldsNoMemory(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: 256, Height: 256, Ladder: "on"}
	})
	r := ccViewer(t, h)
	heap := heapMiB
	viewers := func() string {
		m := do(t, "GET", h.web+"/metrics", "", map[string]string{"Authorization": "Bearer " + token})
		return grepLines(m.body, `avhost_webrtc_viewers{session="demo"}`)
	}
	heap0 := heap()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	n, size := 0, 0
	for start := time.Now(); time.Since(start) < 3*time.Second && r.PC.ConnectionState() == webrtc.PeerConnectionStateConnected; n++ {
		<-tick.C
		rr := &rtcp.ReceiverReport{SSRC: 1}
		for range 31 {
			rr.Reports = append(rr.Reports, rtcp.ReceptionReport{SSRC: rand.Uint32()})
		}
		size = rr.MarshalSize()
		if err := r.PC.WriteRTCP([]rtcp.Packet{rr}); err != nil {
			break // the host closed the connection
		}
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(viewers(), "} 0") }, "the host to drop the viewer")
	grown := heap() - heap0
	t.Logf("%d datagrams of %d bytes naming %d unknown SSRCs: viewer dropped; Go heap in use %.1f → %.1f MiB", n, size, 31*n, heap0, heap0+grown)
	if grown > 5 {
		t.Errorf("the host holds %.1f MiB more for %d KB of RTCP", grown, n*size/1000)
	}
}
