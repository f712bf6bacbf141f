package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/avhost/avhost/internal/loadtest"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// TestReceiverPool is not a test: BenchmarkViewers re-runs the test binary with it to
// hold N Pion viewers in another process, so their decryption is not counted as the
// server's CPU.
func TestReceiverPool(t *testing.T) {
	url := os.Getenv("AVHOST_POOL_URL")
	if url == "" {
		t.Skip("helper process for BenchmarkViewers")
	}
	n, _ := strconv.Atoi(os.Getenv("AVHOST_POOL_N"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rs []*webrtctest.Receiver
	for i := 0; i < n; i++ {
		r, err := webrtctest.JoinWHEP(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		if err := r.WaitTracks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	var v, a int64
	for _, r := range rs {
		v += r.VideoPackets.Load()
		a += r.AudioPackets.Load()
		r.Close()
	}
	fmt.Printf("received video %d audio %d packets\n", v, a)
}

// BenchmarkViewers: the server's CPU with 1 and with 20 Pion viewers of one session
// (512×512@25, H.264 + Opus): one encode, so 20 viewers should cost little more.
func BenchmarkViewers(b *testing.B) {
	for i := 0; i < b.N; i++ {
		h := encodingHostB(b)
		for _, n := range []int{1, 20} {
			pc := poolCPU(b, "AVHOST_POOL_URL="+h.web+"/whep/demo", "^TestReceiverPool$", n)
			b.ReportMetric(pc, fmt.Sprintf("%%core@%dviewers", n))
		}
	}
}

// TestRTSPReaderPool is not a test: BenchmarkRTSPReaders re-runs the test binary with
// it to hold N gortsplib readers (TCP) in another process.
func TestRTSPReaderPool(t *testing.T) {
	url := os.Getenv("AVHOST_RTSP_POOL_URL")
	if url == "" {
		t.Skip("helper process for BenchmarkRTSPReaders")
	}
	n, _ := strconv.Atoi(os.Getenv("AVHOST_POOL_N"))
	var pkts atomic.Int64
	var cs []*gortsplib.Client
	for i := 0; i < n; i++ {
		u, _ := base.ParseURL(url)
		tcp := gortsplib.TransportTCP
		c := &gortsplib.Client{Transport: &tcp}
		c.Scheme, c.Host = u.Scheme, u.Host
		if err := c.Start2(); err != nil {
			t.Fatal(err)
		}
		desc, _, err := c.Describe(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
			t.Fatal(err)
		}
		c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { pkts.Add(1) })
		if _, err := c.Play(nil); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range cs {
		c.Close()
	}
	fmt.Printf("received %d packets\n", pkts.Load())
}

// BenchmarkRTSPReaders: the server's CPU with 1 and with 50 RTSP readers of one
// session (512×512@25, H.264 + Opus, one encode).
func BenchmarkRTSPReaders(b *testing.B) {
	for i := 0; i < b.N; i++ {
		rc := rtspPorts(b)
		h := startHost(b, func(c *server.Config) {
			yes := true
			c.Demo, c.DemoLoop = &yes, 3100*time.Millisecond
			c.Session = session.Config{Width: 512, Height: 512}
			c.RTSP = rc
		})
		_ = h
		for _, n := range []int{1, 50} {
			pc := poolCPU(b, "AVHOST_RTSP_POOL_URL=rtsp://"+rc.Address+"/demo", "^TestRTSPReaderPool$", n)
			b.ReportMetric(pc, fmt.Sprintf("%%core@%dreaders", n))
		}
	}
}

// poolCPU runs a helper pool of n clients in another process and returns the
// server's CPU (% of one core) over a 10 s window.
func poolCPU(b *testing.B, env, run string, n int) float64 {
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v")
	cmd.Env = append(os.Environ(), env, "AVHOST_POOL_N="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
	}
	time.Sleep(2 * time.Second) // settle after the joins' key frames
	c0, w0 := procstat.CPU(), time.Now()
	time.Sleep(10 * time.Second) // measurement window
	c1, w1 := procstat.CPU(), time.Now()
	stdin.Close()
	var tail string
	for sc.Scan() {
		tail += sc.Text() + " "
	}
	cmd.Wait()
	if !strings.Contains(tail, "received") {
		b.Fatalf("the client pool failed: %s", tail)
	}
	pc := 100 * float64(c1-c0) / float64(w1.Sub(w0))
	b.Logf("%d clients: server %.1f %% of one core; pool: %s", n, pc, tail)
	return pc
}

// BenchmarkChurn: connect/close cycles per second against avhost's ingest (auth,
// limits, heartbeats, session handling on) beside a bare gorilla/websocket echo server
// in the same run, and the TIME_WAIT each ends up holding. AVHOST_CHURN_SECONDS sets
// the length of each run (default 10; the figure is for 60).
func BenchmarkChurn(b *testing.B) {
	secs, _ := strconv.Atoi(os.Getenv("AVHOST_CHURN_SECONDS"))
	if secs == 0 {
		secs = 10
	}
	d := time.Duration(secs) * time.Second
	for i := 0; i < b.N; i++ {
		h := startHost(b, func(c *server.Config) { c.MaxConnsPerAddr = 1000 })
		bareURL := serveBare(b)
		// Alternate short runs so drift on a shared machine hits both alike.
		var av, bare loadtest.Result
		for r := 0; r < 4; r++ {
			x := loadtest.Churn(context.Background(), loadtest.Config{URL: bareURL, Workers: 4, Duration: d / 4, ServerCloses: true})
			y := loadtest.Churn(context.Background(), loadtest.Config{URL: h.ws, Token: token, Workers: 4, Duration: d / 4})
			bare = merge(bare, x)
			av = merge(av, y)
		}
		b.Logf("bare   %v", bare)
		b.Logf("avhost %v", av)
		b.ReportMetric(av.Rate, "avhost-cycles/s")
		b.ReportMetric(bare.Rate, "bare-cycles/s")
		b.ReportMetric(100*av.Rate/bare.Rate, "%of-bare")
		b.ReportMetric(100*float64(av.TimeWaitServer)/float64(max(av.Cycles, 1)), "%TIME_WAIT-avhost")
		b.ReportMetric(100*float64(bare.TimeWaitServer)/float64(max(bare.Cycles, 1)), "%TIME_WAIT-bare")
	}
}

// merge adds run r to total (rates add up as cycles over the summed time).
func merge(total, r loadtest.Result) loadtest.Result {
	if total.Failures == nil {
		total.Failures = map[string]int64{}
	}
	secs := 0.0
	if total.Rate > 0 {
		secs = float64(total.Cycles) / total.Rate
	}
	if r.Rate > 0 {
		secs += float64(r.Cycles) / r.Rate
	}
	total.Mode = r.Mode
	total.Cycles += r.Cycles
	if secs > 0 {
		total.Rate = float64(total.Cycles) / secs
	}
	for k, v := range r.Failures {
		total.Failures[k] += v
	}
	total.P50, total.P95, total.P99 = r.P50, r.P95, r.P99
	total.TimeWaitServer, total.TimeWaitClient = r.TimeWaitServer, r.TimeWaitClient
	return total
}
