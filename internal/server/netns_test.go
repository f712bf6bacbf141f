package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// TestPortExhaustionInANetns reproduces the port exhaustion of the aiortc streamer
// avhost replaced (a connection per request) and shows the fix, in a
// network namespace the test makes (unshare -n) with ip_local_port_range narrowed to
// 1000 ports and TIME_WAIT reuse off: a naive client that opens a connection per
// request runs into EADDRNOTAVAIL within seconds; avhost's client doing the same work
// over one persistent connection has 0 failures.
func TestPortExhaustionInANetns(t *testing.T) {
	testenv.RequireNetns(t)
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^TestNetnsHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "AVHOST_NETNS_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper in a new netns: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "naive:") || strings.Contains(l, "persistent:") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

func TestNetnsHelper(t *testing.T) {
	if os.Getenv("AVHOST_NETNS_HELPER") == "" {
		t.Skip("runs inside the namespace TestPortExhaustionInANetns makes")
	}
	for path, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_local_port_range": "40000 40999",
		"/proc/sys/net/ipv4/tcp_tw_reuse":        "0",
	} {
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v %s", err, out)
	}
	// The server's port is outside the narrowed range (a private namespace: no clash).
	h := startHost(t, func(c *server.Config) { c.Listen = "127.0.0.1:20080" })
	const requests = 3000
	req := ingestproto.Message{Type: ingestproto.TypeInterrupt, Session: "none"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// avhost's client: the requests over one persistent connection.
	c, err := client.Dial(ctx, h.ws, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Create(ctx, "p", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fails := 0
	start := time.Now()
	for i := 0; i < requests; i++ {
		if _, err := s.Interrupt(ctx); err != nil && !strings.Contains(err.Error(), "not_playing") {
			fails++
		}
	}
	fmt.Printf("persistent: %d requests over 1 connection in %v, %d failed\n", requests, time.Since(start).Round(time.Millisecond), fails)
	if fails != 0 {
		t.Fatalf("%d failures over the persistent connection", fails)
	}

	// Naive: a connection per request, as the aiortc streamer's client did. Each close
	// leaves a TIME_WAIT on the client side, holding one of the 1000 ports for 60 s.
	var naiveOK, naiveFail int
	var firstErrno string
	start = time.Now()
	var failedAt time.Duration
	for i := 0; i < requests; i++ {
		ws, _, err := websocket.DefaultDialer.Dial(h.ws, http_bearer())
		if err != nil {
			naiveFail++
			if firstErrno == "" {
				firstErrno, failedAt = errnoOf(err), time.Since(start)
			}
			continue
		}
		ws.ReadMessage() // welcome
		ws.WriteJSON(req)
		ws.ReadMessage() // the answer
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		ws.ReadMessage()
		ws.Close()
		naiveOK++
	}
	fmt.Printf("naive: %d requests, %d ok, %d failed, first failure %s after %v\n", requests, naiveOK, naiveFail, firstErrno, failedAt.Round(time.Millisecond))
	if firstErrno != "EADDRNOTAVAIL" {
		t.Fatalf("naive client: first failure %q, want EADDRNOTAVAIL", firstErrno)
	}
}

func http_bearer() map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + token}}
}

func errnoOf(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if en == syscall.EADDRNOTAVAIL {
			return "EADDRNOTAVAIL"
		}
		return en.Error()
	}
	return err.Error()
}
