package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// A MediaMTX for the tests: built once (scripts/mediamtx.sh), run on loopback ports
// with a config the test writes, killed or stopped and started again on the same
// ports; and the avhost host that publishes into it.

// mediamtxPath is where avhost publishes in MediaMTX; mediamtxKey is the publish
// credential, which avhost sends as "Bearer user:pass" (MediaMTX's internal users).
const (
	mediamtxPath = "avatar"
	mediamtxKey  = "avhost:pub-0123456789"
)

// mediamtxBinary returns the MediaMTX binary, building it if needed (cached, so fast
// after the first time), or skips the test when it cannot be built (no Go module
// proxy, for one).
func mediamtxBinary(t testing.TB) string {
	t.Helper()
	testenv.Long(t) // a MediaMTX process and seconds of media: not in make check
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(root, "build", "mediamtx", "mediamtx")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(root, "scripts", "mediamtx.sh")).CombinedOutput(); err != nil {
		t.Skipf("MediaMTX could not be built (make mediamtx): %v\n%s", err, out)
	}
	return bin
}

// mediamtx is one MediaMTX process on loopback ports, with a config file the test wrote.
// Restarting it (start after kill) keeps the config and the ports.
type mediamtx struct {
	bin, conf, logFile string
	web, rtsp, api     string // host:port of WHIP/WHEP, RTSP and the control API

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startMediaMTX writes a config (WHIP/WHEP, RTSP over TCP and the API on loopback; no
// HLS, RTMP, SRT or UDP RTSP) and starts MediaMTX with it. Anyone on loopback may read;
// only mediamtxKey may publish.
func startMediaMTX(t testing.TB) *mediamtx {
	t.Helper()
	bin := mediamtxBinary(t)
	dir := t.TempDir()
	m := &mediamtx{bin: bin, conf: filepath.Join(dir, "mediamtx.yml"), logFile: filepath.Join(dir, "mediamtx.log"),
		web: freeAddr(t, "tcp"), rtsp: freeAddr(t, "tcp"), api: freeAddr(t, "tcp")}
	user, pass, _ := strings.Cut(mediamtxKey, ":")
	conf := fmt.Sprintf(`logLevel: info
logDestinations: [stdout]
authMethod: internal
authInternalUsers:
- user: %s
  pass: %s
  ips: [127.0.0.1]
  permissions: [{action: publish, path: %s}]
- user: any
  ips: [127.0.0.1]
  permissions: [{action: read}, {action: api}]
api: yes
apiAddress: %s
metrics: no
pprof: no
playback: no
rtsp: yes
rtspTransports: [tcp]
rtspAddress: %s
rtpAddress: %s
rtcpAddress: %s
rtmp: no
hls: no
srt: no
webrtc: yes
webrtcAddress: %s
webrtcLocalUDPAddress: %s
webrtcLocalTCPAddress: ''
webrtcIPsFromInterfaces: no
webrtcAdditionalHosts: [127.0.0.1]
pathDefaults:
  # yes would pass avhost's SR timeline on, but v1.14 then drops every packet until a
  # track's first SR, and ffprobe got no decodable H.264 through RTSP.
  useAbsoluteTimestamp: no
paths:
  %s: {}
`, user, pass, mediamtxPath, m.api, m.rtsp, freeAddr(t, "udp"), freeAddr(t, "udp"), m.web, freeAddr(t, "udp"), mediamtxPath)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start(t)
	t.Cleanup(func() {
		m.kill()
		if t.Failed() {
			b, _ := os.ReadFile(m.logFile)
			t.Logf("MediaMTX log:\n%s", lastLines(string(b), 40))
		}
	})
	return m
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// start runs MediaMTX and waits until its API answers.
func (m *mediamtx) start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(m.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(m.bin, m.conf)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + m.api + "/v3/paths/list")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(m.logFile)
			t.Fatalf("MediaMTX exited at start:\n%s", lastLines(string(b), 20))
		case <-time.After(20 * time.Millisecond): // polling the API: no event says it is up
		}
		if time.Now().After(deadline) {
			t.Fatalf("MediaMTX API not up after 10 s: %v", err)
		}
	}
}

// kill ends MediaMTX at once (SIGKILL: no goodbye to its peers) and waits for it.
func (m *mediamtx) kill() { m.stop(syscall.SIGKILL) }

// stop sends sig to MediaMTX and waits for it to exit (SIGTERM: it closes its peer
// connections first).
func (m *mediamtx) stop(sig syscall.Signal) {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// publishTo starts avhost publishing session id to MediaMTX's WHIP endpoint with key.
func publishTo(t testing.TB, web, id string, m *mediamtx, key string) {
	t.Helper()
	body := fmt.Sprintf(`{"url":"http://%s/%s/whip","token":%q}`, m.web, mediamtxPath, key)
	req, _ := http.NewRequest("POST", web+"/api/sessions/"+id+"/whip", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start publish: %d", resp.StatusCode)
	}
}

func mediamtxHost(t testing.TB) *host {
	return startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 3100*time.Millisecond
		c.Session = session.Config{Width: 512, Height: 512}
		c.PublishAllow = []string{"127.0.0.1"} // MediaMTX is on loopback
		c.MaxPendingViewersPerAddr = -1
	})
}
