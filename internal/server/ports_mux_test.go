package server_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// portsHost is a host with the demo session (public), its ICE port at iceAddr ("" for
// ephemeral ports per viewer).
func portsHost(t *testing.T, listen, iceAddr string) *host {
	t.Helper()
	return startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
		c.Listen = listen
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = iceAddr, iceAddr
		// Twenty viewers from one test address join at once: not the flood this cap is for.
		c.MaxPendingViewersPerAddr = -1
	})
}

// udpSockets lists this process's UDP sockets (v4 and v6) by local port: the socket
// inodes of /proc/self/fd found in /proc/self/net/udp{,6}.
func udpSockets(t *testing.T) map[int]int {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]int{}
	for _, f := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // no IPv6
		}
		for _, l := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(l)
			if len(fs) < 10 || !mine[fs[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports[int(p)]++
			}
		}
	}
	return ports
}

func total(m map[int]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// Twenty viewers of one session, in a process of their own, all play through the
// host's one ICE port: the host opens no UDP socket for them (one socket, on the ICE
// port, before and during), and every viewer's selected pair ends on that port. The
// same viewers without the mux cost the host sockets per viewer, as before.
func TestPortsTwentyViewersOneUDPSocket(t *testing.T) {
	h := portsHost(t, "127.0.0.1:0", "127.0.0.1:0")
	udp, tcp := h.srv.ICEAddrs()
	if udp == nil || tcp == nil {
		t.Fatalf("ICE port: udp %v tcp %v, want both bound", udp, tcp)
	}
	port := udp.(*net.UDPAddr).Port
	before := udpSockets(t)
	if before[port] != 1 {
		t.Fatalf("UDP sockets on the ICE port %d: %d, want 1 (%v)", port, before[port], before)
	}
	v := startViewers(t, "", h.web+"/whep/demo", 20, false)
	during := udpSockets(t)
	t.Logf("host UDP sockets: %d before the viewers, %d with 20 playing (by port: %v)", total(before), total(during), during)
	// No socket the viewers could have opened: every port in use now was in use before
	// (sockets of earlier tests in this process may have closed meanwhile).
	for p, n := range during {
		if n > before[p] {
			t.Fatalf("host UDP sockets with 20 viewers: %v, before: %v; want no new one, and one on the ICE port %d", during, before, port)
		}
	}
	if during[port] != 1 {
		t.Fatalf("UDP sockets on the ICE port %d with 20 viewers: %d, want 1", port, during[port])
	}
	suffix := ":" + strconv.Itoa(port)
	for _, l := range v.lines {
		if !strings.HasSuffix(l, suffix) || !strings.Contains(l, "/udp ->") {
			t.Fatalf("a viewer not on the ICE port %d over UDP: %s", port, l)
		}
	}
	v.stop()

	t.Run("without the mux each viewer costs the host sockets", func(t *testing.T) {
		h := portsHost(t, "127.0.0.1:0", "")
		before := udpSockets(t)
		v := startViewers(t, "", h.web+"/whep/demo", 4, false)
		during := udpSockets(t)
		v.stop()
		t.Logf("host UDP sockets without the mux: %d before, %d with 4 viewers", total(before), total(during))
		if total(during)-total(before) < 4 {
			t.Fatalf("4 viewers without the mux opened %d UDP sockets on the host: the comparison measures nothing", total(during)-total(before))
		}
	})
}

// webrtc.ice_interfaces keeps host candidates to the named interfaces, on the
// unspecified address's mux too (which lists every interface otherwise).
func TestPortsInterfaceFilter(t *testing.T) {
	ifs, _ := net.Interfaces()
	other := false
	for _, i := range ifs {
		if addrs, _ := i.Addrs(); i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagUp != 0 && len(addrs) > 0 {
			other = true
		}
	}
	if !other {
		t.Skip("no interface but loopback: nothing to filter out")
	}
	offer := recvOffer(t)
	candidates := func(filter []string) []string {
		h := startHost(t, func(c *server.Config) {
			yes := true
			c.Demo, c.DemoLoop = &yes, 0
			c.Session = session.Config{Width: 128, Height: 128}
			c.WebRTC.ICEUDP, c.WebRTC.ICETCP, c.WebRTC.ICEInterfaces = ":0", ":0", filter
		})
		resp, err := http.Post(h.web+"/whep/demo", "application/sdp", strings.NewReader(offer))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var addrs []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); strings.HasPrefix(l, "a=candidate:") && len(f) > 5 {
				addrs = append(addrs, f[2]+" "+f[4])
			}
		}
		return addrs
	}
	all, lo := candidates(nil), candidates([]string{"lo"})
	t.Logf("host candidates: all interfaces %q; ice_interfaces [lo] %q", all, lo)
	if len(lo) == 0 || len(all) <= len(lo) {
		t.Fatalf("ice_interfaces [lo] kept %q of %q: want fewer, and some", lo, all)
	}
	for _, c := range lo {
		if ip := net.ParseIP(strings.Fields(c)[1]); ip == nil || !ip.IsLoopback() {
			t.Fatalf("ice_interfaces [lo] let %s through", c)
		}
	}
}

// The WHIP publisher goes out through the host's ICE port too: the SFU's selected
// pair ends on it.
func TestPortsWHIPPublisherUsesTheICEPort(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
		c.PublishAllow = []string{"127.0.0.1"} // the test SFU is on loopback
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = "127.0.0.1:0", "127.0.0.1:0"
	})
	udp, _ := h.srv.ICEAddrs()
	ep := &whipEndpoint{}
	sfu := httptest.NewServer(ep)
	defer sfu.Close()
	defer ep.close()
	req, _ := http.NewRequest("POST", h.web+"/api/sessions/demo/whip", strings.NewReader(`{"url":"`+sfu.URL+`/whip","token":"sfu-token"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start publish: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, 30*time.Second, func() bool { return ep.video.Load() > 10 && ep.audio.Load() > 10 }, "media at the SFU")
	ep.mu.Lock()
	pc := ep.pcs[len(ep.pcs)-1]
	ep.mu.Unlock()
	pair, err := pc.GetTransceivers()[0].Receiver().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("SFU's selected pair: %v %v", pair, err)
	}
	t.Logf("SFU's pair: %s -> %s:%d (host ICE port %v)", pair.Local.Address, pair.Remote.Address, pair.Remote.Port, udp)
	if int(pair.Remote.Port) != udp.(*net.UDPAddr).Port {
		t.Fatalf("the publisher reached the SFU from port %d, not the ICE port %v", pair.Remote.Port, udp)
	}
}

// On a 1:1 NAT host, webrtc.nat_1to1_ips replaces the host candidates' address and
// keeps the ICE port: a viewer reaches the one port at the public address.
func TestPortsNAT1To1KeepsTheICEPort(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = "127.0.0.1:0", "127.0.0.1:0"
		c.WebRTC.NAT1To1IPs = []string{"203.0.113.7"}
	})
	udp, tcp := h.srv.ICEAddrs()
	resp, err := http.Post(h.web+"/whep/demo", "application/sdp", strings.NewReader(recvOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := map[string]bool{
		"udp 203.0.113.7 " + strconv.Itoa(udp.(*net.UDPAddr).Port): false,
		"tcp 203.0.113.7 " + strconv.Itoa(tcp.(*net.TCPAddr).Port): false,
	}
	var got []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "a=candidate:") && len(f) > 5 {
			c := strings.ToLower(f[2]) + " " + f[4] + " " + f[5]
			got = append(got, c)
			if _, ok := want[c]; !ok {
				t.Fatalf("candidate %q: want only the public address on the ICE port", c)
			}
			want[c] = true
		}
	}
	for c, seen := range want {
		if !seen {
			t.Fatalf("no candidate %q in %q", c, got)
		}
	}
}
