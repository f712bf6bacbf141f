package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/loadtest"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// TestHitlessRestartUnderLoad: with connect/close churn running, a second avhost
// starts on the same port (SO_REUSEPORT) and takes over; the first drains its session
// (the playing utterance finishes), tells its clients to reconnect and exits. No
// connect fails, and the Go client's session is made again on the new avhost. It runs
// in a network namespace of its own so net.ipv4.tcp_migrate_req=1 (queued connections
// move to the new listener) is set for the test alone.
func TestHitlessRestartUnderLoad(t *testing.T) {
	testenv.RequireNetns(t)
	bin := filepath.Join(t.TempDir(), "avhost")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/avhost").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^TestTakeoverHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "AVHOST_TAKEOVER_BIN="+bin)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "takeover:") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
}

func TestTakeoverHelper(t *testing.T) {
	bin := os.Getenv("AVHOST_TAKEOVER_BIN")
	if bin == "" {
		t.Skip("runs inside the namespace TestHitlessRestartUnderLoad makes")
	}
	os.WriteFile("/proc/sys/net/ipv4/tcp_migrate_req", []byte("1"), 0o644)
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo: %v %s", err, out)
	}
	const addr = "127.0.0.1:20081"
	pidfile := filepath.Join(t.TempDir(), "avhost.pid")
	start := func(name string) *exec.Cmd {
		c := exec.Command(bin, "serve", "-listen", addr, "-reuseport", "-pidfile", pidfile, "-token", token,
			"-rtsp", "-", "-demo=false", "-width", "64", "-height", "64", "-drain-timeout", "10s", "-max-conns-per-addr", "1000")
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := start("A")
	defer a.Process.Kill()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A never came up")
		}
		time.Sleep(50 * time.Millisecond) // the process is starting; bounded
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+addr+"/ingest", client.Options{Token: token, Reconnect: true, MinBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, "kept", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(ctx, 1, tone(3*24000), nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, s, ingestproto.TypeStarted, 5*time.Second)

	churn := make(chan loadtest.Result, 1)
	go func() {
		churn <- loadtest.Churn(ctx, loadtest.Config{URL: "ws://" + addr + "/ingest", Token: token, Workers: 4, Duration: 6 * time.Second})
	}()
	time.Sleep(time.Second) // churn runs against A alone for a second
	b := start("B")
	defer b.Process.Kill()
	fin := waitEvent(t, s, ingestproto.TypeFinished, 10*time.Second) // drained on A
	aErr := a.Wait()
	res := waitEvent(t, s, client.TypeResumed, 10*time.Second)
	r := <-churn
	var dialFails, cycleFails int64
	for k, n := range r.Failures {
		if strings.HasPrefix(k, "cycle:") {
			cycleFails += n
		} else {
			dialFails += n
		}
	}
	fmt.Printf("takeover: churn %d cycles at %.0f/s across the hand-over, %d failed connects, %d cycles cut by the going-away close; utterance drained on A (%.0f ms); session %s on B; A exited: %v\n",
		r.Cycles, r.Rate, dialFails, cycleFails, fin.PlayedMS, res.Code, aErr)
	if aErr != nil {
		t.Fatalf("A did not exit cleanly: %v", aErr)
	}
	if dialFails != 0 {
		t.Fatalf("%d connects failed during the takeover: %v", dialFails, r.Failures)
	}
	if fin.PlayedSamples != 3*24000 || res.Code != "recreated" {
		t.Fatalf("finished %+v, resumed %+v", fin, res)
	}
	// The session works on B.
	if err := s.Play(ctx, 2, tone(24000/2), nil, time.Second); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, s, ingestproto.TypeFinished, 5*time.Second)
}
