package server_test

import (
	"fmt"
	"github.com/avhost/avhost/internal/testsupport/testenv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// buildAvhost builds cmd/avhost into a temporary directory of t's.
func buildAvhost(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "avhost")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/avhost").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// serveRecording starts `avhost serve` on a free loopback port with cfg (YAML, the
// listen address and token added) and waits until it answers.
func serveRecording(t testing.TB, cfg string) (*exec.Cmd, string) {
	t.Helper()
	bin := buildAvhost(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	file := filepath.Join(t.TempDir(), "avhost.yaml")
	cfg = fmt.Sprintf("listen: %q\ntoken: %q\n", addr, token) + cfg
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-config", file)
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			return cmd, "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatal("avhost serve never answered")
		}
		time.Sleep(50 * time.Millisecond) // the process is starting; bounded
	}
}

// tsFiles lists a session's segments, oldest first, with their sizes.
func tsFiles(dir, id string) ([]string, map[string]int64) {
	files, _ := filepath.Glob(filepath.Join(dir, id, id+"-*.ts"))
	sort.Strings(files)
	size := map[string]int64{}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			size[f] = fi.Size()
		}
	}
	return files, size
}

// waitMidSegment waits (bounded) until the session has more than n segments and the
// newest, the one being written, has grown since the previous look: avhost is then
// in the middle of a segment.
func waitMidSegment(t testing.TB, dir, id string, n int, within time.Duration) []string {
	t.Helper()
	var last int64 = -1
	for deadline := time.Now().Add(within); ; {
		files, size := tsFiles(dir, id)
		if len(files) > n {
			cur := size[files[len(files)-1]]
			if last >= 0 && cur > last {
				return files
			}
			last = cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("no growing segment after %d closed ones within %v: %v", n, within, files)
		}
		time.Sleep(200 * time.Millisecond) // polling the disk, the only thing a kill -9 leaves; bounded
	}
}

// TestRecordSurvivesKill9: avhost serve records the demo session from its start (the
// YAML switch) in 2 s segments and is killed with SIGKILL in the middle of its fourth
// segment. Every file, the one it was writing included, plays: both streams, decoded
// to the end without an error.
func TestRecordSurvivesKill9(t *testing.T) {
	testenv.Long(t) // seconds of live media and ffprobe/ffmpeg: not in make check
	dir := t.TempDir()
	cmd, _ := serveRecording(t, fmt.Sprintf(`rtsp: {address: "-"}
demo: true
demo_loop: 2s
session: {width: 128, height: 128}
record: {dir: %q, segment: 2s, sessions: [demo]}
`, dir))
	waitMidSegment(t, dir, "demo", 3, 30*time.Second)
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	files, size := tsFiles(dir, "demo")
	for _, f := range files {
		if got := probeStreams(t, f); got != "h264,opus" {
			t.Fatalf("%s: streams %q, want h264,opus", filepath.Base(f), got)
		}
		t.Logf("%s: %d bytes, plays", filepath.Base(f), size[f])
	}
	if len(files) < 4 {
		t.Fatalf("%d files, want 3 closed segments and the one cut", len(files))
	}
}
