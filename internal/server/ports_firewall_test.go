package server_test

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Behind a firewall that opens only the HTTP port and the ICE port (TCP and UDP) to
// the host, twenty viewers from another network namespace play (nineteen Pion
// receivers that decode their video, and Chromium), all over UDP to the ICE port,
// and `ss` finds one UDP socket in the host's process for all of them.
//
//	viewers 10.234.0.2 ── veth ── host 10.234.0.1 (nftables: 18080/tcp, 18189/tcp+udp)
func TestPortsFirewallTwentyViewers(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("needs ss (iproute2)")
	}
	v := netns(t, "viewer")
	run(t, "ip", "link", "add", "avhp-h", "type", "veth", "peer", "name", "avhp-v", "netns", v)
	run(t, "ip", "addr", "add", "10.234.0.1/24", "dev", "avhp-h")
	run(t, "ip", "link", "set", "avhp-h", "up")
	run(t, "ip", "-n", v, "addr", "add", "10.234.0.2/24", "dev", "avhp-v")
	run(t, "ip", "-n", v, "link", "set", "avhp-v", "up")
	const httpPort, icePort = "18080", "18189"
	nft(t, "", `table inet avhp {
	chain in {
		type filter hook input priority 0;
		iifname "avhp-h" ct state established,related accept
		iifname "avhp-h" tcp dport { `+httpPort+`, `+icePort+` } accept
		iifname "avhp-h" udp dport `+icePort+` accept
		iifname "avhp-h" counter drop
	}
}`)
	// A port the host listens on but the firewall does not open: the viewers cannot
	// reach it (what the firewall is for, and the proof that it filters).
	closed, err := net.Listen("tcp", "10.234.0.1:18081")
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	if exec.Command("ip", "netns", "exec", v, "timeout", "1", "bash", "-c", "echo > /dev/tcp/10.234.0.1/18081").Run() == nil {
		t.Fatal("the viewers reach a port the firewall does not open")
	}
	h := portsHost(t, "10.234.0.1:"+httpPort, ":"+icePort)
	vp := startViewers(t, v, h.web+"/whep/demo", 19, false, "AVHOST_PORTS_DECODE=1")
	chromium := chromiumHold(t, v, h.web+"/?via=whep")
	t.Logf("%s; %s … %s", chromium, vp.lines[0], vp.lines[len(vp.lines)-1])
	want := "/udp -> 10.234.0.1:" + icePort
	for _, l := range append(vp.lines, chromium) {
		if !strings.Contains(l, want) {
			t.Fatalf("a viewer not on UDP to the ICE port: %s", l)
		}
		if f := field(l, "frames="); f < 10 {
			t.Fatalf("a viewer decoded %d pictures: %s", f, l)
		}
	}
	if out, err := h.srv.Output("demo"); err != nil || out.Viewers() != 20 {
		t.Fatalf("host's viewers of demo: %v (%v), want 20", out, err)
	}

	// The host's process's UDP sockets, as an operator would look for them.
	out, err := exec.Command("ss", "-uanp").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	pid := "pid=" + strconv.Itoa(os.Getpid()) + ","
	var mine []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, pid) {
			mine = append(mine, strings.Join(strings.Fields(l), " "))
		}
	}
	t.Logf("ss -uanp, the host's UDP sockets with 20 viewers: %q", mine)
	if len(mine) != 1 || !strings.Contains(mine[0], ":"+icePort+" ") {
		t.Fatalf("the host has %d UDP sockets with 20 viewers, want one on the ICE port %s:\n%s", len(mine), icePort, out)
	}
	nftOut, _ := exec.Command("nft", "list", "table", "inet", "avhp").CombinedOutput()
	t.Logf("dropped by the firewall (the probe of a closed port): %s", dropCounts(string(nftOut)))
}

// field reads the integer after key in a "k=v k=v" line (-1 if none).
func field(l, key string) int {
	_, rest, ok := strings.Cut(l, key)
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.Fields(rest)[0])
	if err != nil {
		return -1
	}
	return n
}
