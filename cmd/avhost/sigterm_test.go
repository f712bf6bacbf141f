package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSIGTERMExitsZeroWithinTheDrainTimeout: issue 10 row 12. The avhost binary, sent
// SIGTERM while a client holds a request open (headers sent, body never finished) and
// an ingest WebSocket is connected, exits with status 0 within -drain-timeout, and the
// WebSocket client is told to go away (1001).
func TestSIGTERMExitsZeroWithinTheDrainTimeout(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "avhost")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const drain = 3 * time.Second
	cmd := exec.Command(bin, "serve", "-demo=false", "-listen", addr, "-token", "t", "-rtsp", "-", "-ice-udp", "-", "-ice-tcp", "-", "-drain-timeout", drain.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("avhost serve did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // the process is starting; bounded by the deadline
	}

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /api/sessions/x/whip HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ingest", http.Header{"Authorization": {"Bearer t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // welcome: the connection is established
		t.Fatal(err)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(drain + 10*time.Second):
		t.Fatalf("still running %v after SIGTERM\n%s", drain+10*time.Second, stderr.String())
	}
	took := time.Since(start)
	t.Logf("exited %v after SIGTERM (drain timeout %v): %v", took.Round(time.Millisecond), drain, cmd.ProcessState)
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if took > drain {
		t.Fatalf("took %v, more than the %v drain timeout", took, drain)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("ingest client: %v, want close 1001 (going away)", err)
	}
}
