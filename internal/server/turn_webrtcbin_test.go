package server_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// The webrtcbin backend hands webrtcbin the host's TURN server with a credential
// minted for the viewer: webrtcbin allocates a relay on coturn (started here with
// use-auth-secret, so a badly escaped "expiry:user" username or base64 password is
// refused) and its answer carries the relay candidate. The credential is in no log.
func TestWebrtcbinGetsTURN(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("needs coturn's turnserver (make deps installs it)")
	}
	// An address that is not loopback, which libnice leaves out of its candidates
	// (this kernel has no dummy links: one end of a veth pair).
	run(t, "ip", "link", "add", "avhp-a", "type", "veth", "peer", "name", "avhp-b")
	run(t, "ip", "addr", "add", "10.233.0.1/24", "dev", "avhp-a")
	run(t, "ip", "link", "set", "avhp-a", "up")
	run(t, "ip", "link", "set", "avhp-b", "up")
	secret := auth.RandomID(16)
	cmd := exec.Command("turnserver", "-n", "--listening-ip=10.233.0.1", "--relay-ip=10.233.0.1", "--listening-port=3478",
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=avhost.test", "--no-cli", "--no-tls", "--no-dtls",
		"--min-port=49152", "--max-port=49252", "--log-file=stdout", "--simple-log", "--pidfile=", "-v",
		"--db="+filepath.Join(t.TempDir(), "turndb"))
	var turnLog syncBuffer
	cmd.Stdout, cmd.Stderr = &turnLog, &turnLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "10.233.0.1:3478", time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "coturn listening")

	var hostLog syncBuffer
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128, Backend: "webrtcbin"}
		c.Listen = "10.233.0.1:18080"
		c.WebRTC.ICEServers = nil
		c.WebRTC.TURN = rtcout.TURN{URLs: []string{"turn:10.233.0.1:3478?transport=udp"}, Secret: secret}
		c.Log = slog.New(slog.NewTextHandler(&hostLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	start := time.Now()
	resp, err := http.Post(h.web+"/whep/demo", "application/sdp", strings.NewReader(recvOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP %d: %s", resp.StatusCode, b)
	}
	var relay []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "a=candidate:") && strings.Contains(l, " typ relay") {
			relay = append(relay, strings.TrimSpace(l))
		}
	}
	t.Logf("webrtcbin's answer after %v: relay candidates %q", time.Since(start).Round(time.Millisecond), relay)
	if len(relay) == 0 || !strings.Contains(relay[0], " 10.233.0.1 ") {
		t.Fatalf("webrtcbin's answer has no relay candidate on coturn (10.233.0.1):\n%s\ncoturn:\n%s", b, turnLog.String())
	}
	// coturn names the user of each allocation it grants: one minted by avhost.
	users := regexp.MustCompile(`user <(\d+:v[0-9a-f]{12})>`).FindAllStringSubmatch(turnLog.String(), -1)
	if len(users) == 0 {
		t.Fatalf("coturn granted no allocation to a minted user:\n%s", turnLog.String())
	}
	t.Logf("coturn's allocation user: %s", users[0][1])
	for _, u := range users {
		if strings.Contains(hostLog.String(), u[1]) || strings.Contains(hostLog.String(), strings.ReplaceAll(u[1], ":", "%3A")) {
			t.Fatalf("the host's log names the TURN username %s:\n%s", u[1], hostLog.String())
		}
	}
	if strings.Contains(hostLog.String(), "turn://") {
		t.Fatalf("the host's log has a TURN URI:\n%s", hostLog.String())
	}
}

// syncBuffer is a bytes.Buffer that a process's output and a logger may write to
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
