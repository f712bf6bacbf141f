package server_test

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// A viewer behind a NAT, with every direct path to the host's ICE port blocked, plays
// through coturn (started here with use-auth-secret) with iceTransportPolicy
// "relay", on a credential avhost minted for it and handed over in the WHEP answer's
// Link headers; the secret is in no header.
//
//	viewer 10.232.1.2 ── NAT (masquerade) 10.232.1.1 | 10.232.0.2 ── host 10.232.0.1
//	                                                                 avhost, coturn :3478
//
// The host's firewall lets the NAT's address reach HTTP and TURN (3478) only.
func TestTURNRelayBehindNAT(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("needs coturn's turnserver (make deps installs it)")
	}
	n, v := netns(t, "nat"), netns(t, "viewer")
	run(t, "ip", "link", "add", "avhp-h", "type", "veth", "peer", "name", "avhp-nh", "netns", n)
	run(t, "ip", "addr", "add", "10.232.0.1/24", "dev", "avhp-h")
	run(t, "ip", "link", "set", "avhp-h", "up")
	run(t, "ip", "-n", n, "addr", "add", "10.232.0.2/24", "dev", "avhp-nh")
	run(t, "ip", "-n", n, "link", "set", "avhp-nh", "up")
	run(t, "ip", "-n", n, "link", "add", "avhp-nv", "type", "veth", "peer", "name", "avhp-v", "netns", v)
	run(t, "ip", "-n", n, "addr", "add", "10.232.1.1/24", "dev", "avhp-nv")
	run(t, "ip", "-n", n, "link", "set", "avhp-nv", "up")
	run(t, "ip", "-n", v, "addr", "add", "10.232.1.2/24", "dev", "avhp-v")
	run(t, "ip", "-n", v, "link", "set", "avhp-v", "up")
	run(t, "ip", "-n", v, "route", "add", "default", "via", "10.232.1.1")
	run(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nft(t, n, `table ip avhp {
	chain post { type nat hook postrouting priority 100; oifname "avhp-nh" masquerade; }
}`)
	const httpPort, icePort = "18080", "18189"
	nft(t, "", `table inet avhp {
	chain in {
		type filter hook input priority 0;
		iifname "avhp-h" tcp dport { `+httpPort+`, 3478 } accept
		iifname "avhp-h" udp dport 3478 accept
		iifname "avhp-h" meta l4proto { tcp, udp } th dport `+icePort+` counter drop
		iifname "avhp-h" ct state established,related accept
		iifname "avhp-h" counter drop
	}
}`)

	secret := auth.RandomID(16)
	cmd := exec.Command("turnserver", "-n", "--listening-ip=10.232.0.1", "--relay-ip=10.232.0.1", "--listening-port=3478",
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=avhost.test", "--no-cli", "--no-tls", "--no-dtls",
		"--min-port=49152", "--max-port=49252", "--log-file=stdout", "--simple-log", "--pidfile=", "-v",
		"--db="+filepath.Join(t.TempDir(), "turndb"))
	var turnLog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &turnLog, &turnLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "10.232.0.1:3478", time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "coturn listening")

	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
		c.Listen = "10.232.0.1:" + httpPort
		c.WebRTC.ICEUDP, c.WebRTC.ICETCP = ":"+icePort, ":"+icePort
		c.WebRTC.TURN = rtcout.TURN{URLs: []string{"turn:10.232.0.1:3478?transport=udp"}, Secret: secret}
	})
	vp := startViewers(t, v, h.web+"/whep/demo", 1, true)
	for _, l := range vp.lines {
		t.Log(l)
	}
	if len(vp.lines) != 2 || !strings.HasPrefix(vp.lines[0], "ice-server turn:10.232.0.1:3478?transport=udp username=") {
		t.Fatalf("want one ice-server line with the TURN server, then one viewer: %q", vp.lines)
	}
	user := strings.TrimPrefix(vp.lines[0], "ice-server turn:10.232.0.1:3478?transport=udp username=")
	m := regexp.MustCompile(`^(\d+):v[0-9a-f]{12}$`).FindStringSubmatch(user)
	if m == nil {
		t.Fatalf("minted username %q: want expiry:v<12 hex>", user)
	}
	if exp, _ := strconv.ParseInt(m[1], 10, 64); time.Until(time.Unix(exp, 0)) < 59*time.Minute || time.Until(time.Unix(exp, 0)) > time.Hour {
		t.Fatalf("minted username %q expires at %v: want in an hour", user, time.Unix(exp, 0))
	}
	if !strings.Contains(vp.lines[1], "relay/udp") {
		t.Fatalf("the viewer plays, but not through the relay: %s", vp.lines[1])
	}
	if !strings.Contains(turnLog.String(), user) {
		t.Fatalf("coturn's log does not name the minted user %q:\n%s", user, turnLog.String())
	}
	out, _ := exec.Command("nft", "list", "table", "inet", "avhp").CombinedOutput()
	t.Logf("direct packets to the ICE port dropped; others dropped: %s", dropCounts(string(out)))
	t.Run("Chromium with iceTransportPolicy relay plays through coturn too", func(t *testing.T) {
		l := chromiumIn(t, v, h.web+"/healthz", true)
		t.Log(l)
		if !strings.Contains(l, "pair=relay/udp -> ") {
			t.Fatalf("Chromium plays, but not through the relay: %s", l)
		}
	})
}
