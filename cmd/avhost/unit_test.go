package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/doctor"
)

// TestSystemdUnit: deploy/avhost.service is a unit systemd accepts, its ExecStart is
// a command line avhost serve takes (with the sample avhost.yaml as its config), it
// leaves the drain its time before SIGKILL, and its file limit meets avhost doctor.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("../../deploy/avhost.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = v
		}
	}
	stop, err := time.ParseDuration(keys["TimeoutStopSec"])
	if err != nil || stop <= 30*time.Second {
		t.Errorf("TimeoutStopSec=%q: want longer than -drain-timeout's default 30s", keys["TimeoutStopSec"])
	}
	if n, err := strconv.Atoi(keys["LimitNOFILE"]); err != nil || n < doctor.WantNofile {
		t.Errorf("LimitNOFILE=%q: avhost doctor wants at least %d", keys["LimitNOFILE"], doctor.WantNofile)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "avhost")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	argv := strings.Fields(keys["ExecStart"])
	if len(argv) < 2 || argv[0] != "/usr/local/bin/avhost" || argv[1] != "serve" {
		t.Fatalf("ExecStart=%q: want /usr/local/bin/avhost serve …", keys["ExecStart"])
	}
	args := append([]string{}, argv[1:]...)
	for i, a := range args {
		if a == "/etc/avhost/avhost.yaml" {
			args[i] = "../../avhost.yaml"
		}
	}
	// Only the addresses change, so the test binds nothing a running host holds.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args = append(args, "-demo=false", "-listen", addr, "-rtsp", "-", "-ice-udp", "-", "-ice-tcp", "-", "-drain-timeout", "1s")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AVHOST_TOKEN=unit-test-token-0123456789")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("avhost %s exited: %v\n%s", strings.Join(args, " "), err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("avhost %s did not come up: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // the process is starting; bounded by the deadline
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze to verify the unit with")
	}
	// verify checks that ExecStart's binary exists: point it at the one just built.
	u := filepath.Join(dir, "avhost.service")
	os.WriteFile(u, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/avhost", bin)), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", u).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
