package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeStartsTheDemo runs what `make run` runs — `avhost serve` with its defaults
// but the port — and fetches the page, /healthz and /metrics, with the demo speaking.
func TestServeStartsTheDemo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"-listen", addr, "-token", "t", "-demo-loop", "0", "-rtsp", "-"}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	get := func(path string) (int, string) {
		for deadline := time.Now().Add(10 * time.Second); ; {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", path, err)
			}
			time.Sleep(50 * time.Millisecond) // the server is starting; bounded by the deadline
		}
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "<title>avhost</title>") {
		t.Fatalf("/: %d", code)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/sessions/demo/speak", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("speak without token: %v %v", resp, err)
	}
	req.Header.Set("Authorization", "Bearer t")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 202 {
		t.Fatalf("speak: %v %v", resp, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, m := get("/metrics")
		if strings.Contains(m, `avhost_utterances_total{session="demo"} 1`) && strings.Contains(m, `avhost_sessions 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed the demo's utterance:\n%s", m)
		}
	}
}
