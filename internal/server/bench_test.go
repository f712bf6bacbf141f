package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/webrtctest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
			cmd := exec.Command(os.Args[0], "-test.run=^TestReceiverPool$", "-test.v")
			cmd.Env = append(os.Environ(), "AVHOST_POOL_URL="+h.web+"/whep/demo", "AVHOST_POOL_N="+strconv.Itoa(n))
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
			c0, w0 := cpuTime(), time.Now()
			time.Sleep(10 * time.Second) // measurement window
			c1, w1 := cpuTime(), time.Now()
			stdin.Close()
			var tail string
			for sc.Scan() {
				tail += sc.Text() + " "
			}
			cmd.Wait()
			pc := 100 * float64(c1-c0) / float64(w1.Sub(w0))
			b.ReportMetric(pc, fmt.Sprintf("%%core@%dviewers", n))
			b.Logf("%d viewers: server %.1f %% of one core; pool: %s", n, pc, tail)
		}
	}
}
