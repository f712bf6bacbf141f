package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/webrtctest"
	"github.com/pion/webrtc/v4"
)

// The port tests watch viewers from outside the host's process (so that its sockets
// are its own in /proc) or from another network namespace: TestPortsViewerHelper is
// that viewer process, run by startViewers.

// portsViewer is a recvonly Pion viewer that takes ICE servers and a transport
// policy, as a browser given iceServers and iceTransportPolicy does.
type portsViewer struct {
	pc           *webrtc.PeerConnection
	location     string
	links        []webrtc.ICEServer // from the answer's Link headers
	video, audio atomic.Int64
	decode       bool
	dec          atomic.Pointer[h264Decoder] // with decode, once video arrives
}

// frames is the pictures decoded so far (0 without decode).
func (v *portsViewer) frames() int64 {
	if d := v.dec.Load(); d != nil {
		return d.frames.Load()
	}
	return 0
}

func joinPorts(ctx context.Context, url string, servers []webrtc.ICEServer, relay, decode bool) (*portsViewer, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// ICE-TCP (active) as browsers do it; Pion leaves TCP out by default.
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
		webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	cfg := webrtc.Configuration{ICEServers: servers}
	if relay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	v := &portsViewer{pc: pc, decode: decode}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &v.audio
		var dec *h264Decoder
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			n = &v.video
			if v.decode {
				var err error
				if dec, err = newH264Decoder(uint8(t.PayloadType())); err != nil {
					fmt.Printf("fail: decoder: %v\n", err)
					return
				}
				defer dec.close()
				v.dec.Store(dec)
			}
		}
		buf := make([]byte, 1500)
		for {
			k, _, err := t.Read(buf)
			if err != nil {
				return // the PeerConnection closed
			}
			n.Add(1)
			if dec != nil {
				dec.push(buf[:k])
			}
		}
	})
	a, err := webrtctest.ExchangeWHEP(ctx, pc, url, "")
	if err != nil {
		return nil, err
	}
	v.location, v.links = a.Location, parseICELinks(a.Links)
	return v, nil
}

// leave ends the WHEP resource and the PeerConnection.
func (v *portsViewer) leave(base string) {
	if req, err := http.NewRequest("DELETE", base+v.location, nil); err == nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	v.pc.Close()
}

// pair describes the selected candidate pair: "local-type/proto -> remote-ip:port".
func (v *portsViewer) pair() string {
	for _, tr := range v.pc.GetTransceivers() {
		if t := tr.Receiver().Transport(); t != nil {
			if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
				return fmt.Sprintf("%s/%s -> %s:%d", p.Local.Typ, p.Local.Protocol, p.Remote.Address, p.Remote.Port)
			}
		}
	}
	return "none"
}

var linkRE = regexp.MustCompile(`<([^>]*)>((?:\s*;\s*[\w-]+="(?:[^"\\]|\\.)*")*)`)
var paramRE = regexp.MustCompile(`([\w-]+)="((?:[^"\\]|\\.)*)"`)

// parseICELinks reads RFC 9725 §4.6 ice-server Link headers back into ICE servers.
func parseICELinks(values []string) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, h := range values {
		for _, m := range linkRE.FindAllStringSubmatch(h, -1) {
			s := webrtc.ICEServer{URLs: []string{m[1]}}
			rel := ""
			for _, p := range paramRE.FindAllStringSubmatch(m[2], -1) {
				val := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(p[2])
				switch p[1] {
				case "rel":
					rel = val
				case "username":
					s.Username = val
				case "credential":
					s.Credential = val
				}
			}
			if rel == "ice-server" {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestPortsViewerHelper is the viewer process: AVHOST_PORTS_VIEWERS viewers of
// AVHOST_PORTS_URL (a WHEP URL), each until it has media; it prints one "played" line
// per viewer and "ready", then holds them until its stdin closes. With
// AVHOST_PORTS_RELAY set it first learns the host's ICE servers from a WHEP answer's
// Link headers, as the page does, and then joins with iceTransportPolicy "relay".
// With AVHOST_PORTS_DECODE set each viewer decodes its video (h264Decoder) and plays
// once it has decoded 10 pictures.
func TestPortsViewerHelper(t *testing.T) {
	url := os.Getenv("AVHOST_PORTS_URL")
	if url == "" {
		t.Skip("the viewer process of the port tests (startViewers)")
	}
	n, _ := strconv.Atoi(os.Getenv("AVHOST_PORTS_VIEWERS"))
	relay := os.Getenv("AVHOST_PORTS_RELAY") != ""
	decode := os.Getenv("AVHOST_PORTS_DECODE") != ""
	base := url[:strings.Index(url, "/whep/")]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var servers []webrtc.ICEServer
	if relay {
		probe, err := joinPorts(ctx, url, nil, false, false)
		if err != nil {
			fmt.Printf("fail: %v\n", err)
			return
		}
		probe.leave(base)
		servers = probe.links
		for _, s := range servers {
			fmt.Printf("ice-server %s username=%s\n", s.URLs[0], s.Username)
		}
	}
	var viewers []*portsViewer
	defer func() {
		for _, v := range viewers {
			v.leave(base)
		}
	}()
	for i := 0; i < n; i++ {
		v, err := joinPorts(ctx, url, servers, relay, decode)
		if err != nil {
			fmt.Printf("fail: viewer %d: %v\n", i, err)
			return
		}
		viewers = append(viewers, v)
	}
	for i, v := range viewers {
		for v.video.Load() < 10 || v.audio.Load() < 10 || decode && v.frames() < 10 {
			if ctx.Err() != nil {
				fmt.Printf("fail: viewer %d: video %d audio %d packets, %d frames decoded, %s, pair %s\n", i, v.video.Load(), v.audio.Load(), v.frames(), v.pc.ICEConnectionState(), v.pair())
				return
			}
			time.Sleep(50 * time.Millisecond) // polling a counter, bounded by ctx
		}
		decoded := ""
		if decode {
			decoded = fmt.Sprintf(" frames=%d", v.frames())
		}
		fmt.Printf("played %d video=%d audio=%d%s pair=%s\n", i, v.video.Load(), v.audio.Load(), decoded, v.pair())
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // hold the viewers until the test has looked
}

// viewerProc is a running TestPortsViewerHelper.
type viewerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines []string
}

// startViewers runs n viewers of url in a process of their own (in network namespace
// ns, if not ""), and returns once they all play; it fails t if any does not. env
// adds to the process's environment (AVHOST_PORTS_DECODE=1).
func startViewers(t *testing.T, ns, url string, n int, relay bool, env ...string) *viewerProc {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestPortsViewerHelper$", "-test.v"}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "AVHOST_PORTS_URL="+url, "AVHOST_PORTS_VIEWERS="+strconv.Itoa(n))
	if relay {
		cmd.Env = append(cmd.Env, "AVHOST_PORTS_RELAY=1")
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &viewerProc{cmd: cmd, stdin: stdin}
	t.Cleanup(p.stop)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "fail") {
			t.Fatalf("viewer process: %s\n%s", l, strings.Join(p.lines, "\n"))
		}
		if l == "ready" {
			go io.Copy(io.Discard, out) // the rest (test framework lines) until exit
			return p
		}
		if strings.HasPrefix(l, "played") || strings.HasPrefix(l, "ice-server") {
			p.lines = append(p.lines, l)
		}
	}
	t.Fatalf("viewer process ended before its viewers played:\n%s\n%s", strings.Join(p.lines, "\n"), stderr.String())
	return nil
}

// stop lets the viewers go and waits for the process.
func (p *viewerProc) stop() {
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
		p.cmd.Wait()
	}
}
