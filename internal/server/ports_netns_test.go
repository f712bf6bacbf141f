package server_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// inPrivateNetns runs the calling test again in a network namespace of its own
// (unshare -n), where it may add namespaces, veths and nftables rules that vanish
// with it, and says whether this is that run: the caller goes on only if true. It
// skips without root or the tools.
func inPrivateNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("AVHOST_PORTS_NETNS") == t.Name() {
		run(t, "ip", "link", "set", "lo", "up")
		return true
	}
	testenv.RequireNetns(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for named network namespaces and nftables")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "AVHOST_PORTS_NETNS="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a private network namespace: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, ".go:") { // the inner run's t.Log lines: its figures
			t.Log(strings.TrimSpace(l))
		}
	}
	return false
}

// run runs a command, failing t with its output if it fails.
func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// nft loads an nftables ruleset (in namespace ns, "" for this one).
func nft(t *testing.T, ns, rules string) {
	t.Helper()
	args := []string{"nft", "-f", "-"}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s\n%s", err, out, rules)
	}
}

// netns adds a named network namespace with lo up, removed at the end of the test.
func netns(t *testing.T, name string) string {
	t.Helper()
	name = fmt.Sprintf("avhp%d-%s", os.Getpid(), name)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// A viewer whose network drops all UDP to and from the host still plays: over
// ICE-TCP, to the host's passive listener on the ICE port. The host runs in this
// (private) namespace; the viewer in another, joined by a veth on which nftables
// drops UDP both ways.
func TestPortsICETCPWhenUDPBlocked(t *testing.T) {
	if !inPrivateNetns(t) {
		return
	}
	v := netns(t, "viewer")
	run(t, "ip", "link", "add", "avhp-h", "type", "veth", "peer", "name", "avhp-v", "netns", v)
	run(t, "ip", "addr", "add", "10.231.0.1/24", "dev", "avhp-h")
	run(t, "ip", "link", "set", "avhp-h", "up")
	run(t, "ip", "-n", v, "addr", "add", "10.231.0.2/24", "dev", "avhp-v")
	run(t, "ip", "-n", v, "link", "set", "avhp-v", "up")
	nft(t, "", `table inet avhp {
	chain in { type filter hook input priority 0; iifname "avhp-h" meta l4proto udp counter drop; }
	chain out { type filter hook output priority 0; oifname "avhp-h" meta l4proto udp counter drop; }
}`)

	h := portsHost(t, "10.231.0.1:18080", ":18189")
	vp := startViewers(t, v, h.web+"/whep/demo", 1, false)
	t.Log(vp.lines[0])
	if !strings.Contains(vp.lines[0], "/tcp -> 10.231.0.1:18189") {
		t.Fatalf("the viewer plays, but not over ICE-TCP to the ICE port: %s", vp.lines[0])
	}
	out, _ := exec.Command("nft", "list", "table", "inet", "avhp").CombinedOutput()
	counts := dropCounts(string(out))
	t.Logf("UDP dropped on the veth (in; out): %s", counts)
	if strings.HasPrefix(counts, "counter packets 0 ") {
		t.Fatal("no UDP from the viewer was dropped: the test did not block what it says")
	}
	t.Run("Chromium plays over ICE-TCP too", func(t *testing.T) {
		// Chromium checks its TCP pair some 0.1 s after connecting; if the host closed
		// that connection first, Chromium would never dial it again. A failure prints
		// the page's candidate pairs and DTLS state (TestPortsChromiumHelper).
		l := chromiumIn(t, v, h.web+"/?via=whep", false)
		t.Log(l)
		if !strings.Contains(l, "/tcp -> 10.231.0.1:18189") {
			t.Fatalf("Chromium plays, but not over ICE-TCP to the ICE port: %s", l)
		}
	})
}

// dropCounts picks "packets N" of each counter in an nft listing.
func dropCounts(listing string) string {
	var c []string
	for _, l := range strings.Split(listing, "\n") {
		if i := strings.Index(l, "counter packets"); i >= 0 {
			c = append(c, strings.TrimSpace(l[i:]))
		}
	}
	return strings.Join(c, "; ")
}
