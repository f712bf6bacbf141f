package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// procCPU is a process's user+system CPU time so far, from /proc/PID/stat.
func procCPU(b testing.TB, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces; the fields after its ")" start at 3.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	const hz = 100                           // USER_HZ, 100 on Linux
	return time.Duration(ut+st) * time.Second / hz
}

// avhostBinary builds cmd/avhost into a temporary directory (the build cache makes this
// quick after the first time).
func avhostBinary(b testing.TB) string {
	b.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(b.TempDir(), "avhost")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/avhost")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/avhost: %v\n%s", err, out)
	}
	return bin
}

// startAvhost runs `avhost serve` with a YAML config that publishes the demo session
// (512×512@25) into m, and returns its process and web address once /healthz answers.
func startAvhost(b testing.TB, m *mediamtx) (*os.Process, string) {
	b.Helper()
	bin := avhostBinary(b)
	web := freeAddr(b, "tcp")
	conf := filepath.Join(b.TempDir(), "avhost.yml")
	yml := fmt.Sprintf(`listen: %s
demo: true
demo_loop: 3100ms
rtsp: {address: "-"}
session: {width: 512, height: 512}
publish_allow: [127.0.0.1]
publish:
  demo: {url: "http://%s/%s/whip", token: %q}
`, web, m.web, mediamtxPath, mediamtxKey)
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(b.TempDir(), "avhost.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-config", conf)
	cmd.Env = append(os.Environ(), "AVHOST_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + web + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd.Process, "http://" + web
			}
		}
		select {
		case <-exited:
			b.Fatalf("avhost exited at start (log: %s)", logf.Name())
		case <-time.After(50 * time.Millisecond): // polling: nothing tells us it is up
		}
		if time.Now().After(deadline) {
			b.Fatalf("avhost not up after 20 s: %v", err)
		}
	}
}

// BenchmarkMediaMTXReaders: avhost's CPU (its own process) while MediaMTX fans its
// WHIP publication out to 1 and to 50 WHEP readers, in alternating 20 s windows.
// MediaMTX's readers should cost avhost nothing: it sends one publication whatever
// their number. (MediaMTX v1.14 asks its publisher for a key frame every 2 s, readers
// or not, and passes no reader's PLI on.)
func BenchmarkMediaMTXReaders(b *testing.B) {
	for i := 0; i < b.N; i++ {
		m := startMediaMTX(b)
		proc, _ := startAvhost(b, m)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, _, err := firstKeyFrame(ctx, "rtsp://"+m.rtsp+"/"+mediamtxPath); err != nil {
			b.Fatalf("the publication did not reach MediaMTX: %v", err)
		}
		whep := "http://" + m.web + "/" + mediamtxPath + "/whep"
		var readers []*webrtctest.Receiver
		defer func() {
			for _, r := range readers {
				r.Close()
			}
		}()
		// hold keeps n readers of MediaMTX connected, with their tracks flowing.
		hold := func(n int) {
			for len(readers) > n {
				readers[len(readers)-1].Close()
				readers = readers[:len(readers)-1]
			}
			for len(readers) < n {
				r, err := webrtctest.JoinWHEP(ctx, whep)
				if err != nil {
					b.Fatalf("reader %d: %v", len(readers)+1, err)
				}
				readers = append(readers, r)
			}
			for _, r := range readers {
				if err := r.WaitTracks(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		mtxPid := func() int { m.mu.Lock(); defer m.mu.Unlock(); return m.cmd.Process.Pid }()
		window := func(n int) float64 {
			hold(n)
			settle := time.NewTimer(3 * time.Second) // let joins' key frames pass
			<-settle.C
			c0, m0, t0 := procCPU(b, proc.Pid), procCPU(b, mtxPid), time.Now()
			v0 := readers[0].VideoPackets.Load()
			w := time.NewTimer(20 * time.Second)
			<-w.C
			el := float64(time.Since(t0))
			pct := 100 * float64(procCPU(b, proc.Pid)-c0) / el
			if readers[0].VideoPackets.Load() == v0 {
				b.Fatalf("%d readers: the first got no video in the window", n)
			}
			b.Logf("%2d MediaMTX WHEP readers: avhost %.1f %%, MediaMTX %.1f %% of a core", n, pct, 100*float64(procCPU(b, mtxPid)-m0)/el)
			return pct
		}
		// Alternating windows: on a shared machine the CPU drifts between windows with
		// the same load, and the spread of the 1-reader windows shows by how much.
		var one, fifty []float64
		for _, n := range []int{1, 50, 1, 50, 1} {
			if n == 1 {
				one = append(one, window(n))
			} else {
				fifty = append(fifty, window(n))
			}
		}
		sort.Float64s(one)
		sort.Float64s(fifty)
		base, many := one[1], (fifty[0]+fifty[1])/2
		noise := (one[2] - one[0]) / base
		b.ReportMetric(base, "%core@1reader")
		b.ReportMetric(many, "%core@50readers")
		d := (many - base) / base
		b.Logf("avhost CPU with 1 MediaMTX reader %.1f %% of a core (median of 3 windows, spread %.0f %%), with 50 %.1f %% (mean of 2): %+.1f %%",
			base, 100*noise, many, 100*d)
		// A difference within the spread of identical windows is the machine, not the readers.
		if lim := max(0.10, noise); d < -lim || d > lim {
			b.Errorf("50 MediaMTX readers moved avhost's CPU by %+.1f %% (want within ±%.0f %%)", 100*d, 100*lim)
		}
	}
}
