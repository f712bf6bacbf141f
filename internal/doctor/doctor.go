// Package doctor is `avhost doctor`: it reads the kernel settings that decide whether
// a busy real-time server survives connection churn (TIME_WAIT reuse, FIN timeout,
// keepalive, ephemeral port range, TIME_WAIT bucket cap, accept backlog, fd limit),
// counts sockets by state on avhost's ports, and says what to change and why. It
// changes nothing unless asked to apply (root only).
package doctor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Finding is one setting checked.
type Finding struct {
	Key    string // sysctl name, or "nofile"
	Value  string // what the machine has
	Want   string // what avhost recommends ("" when fine)
	OK     bool
	Reason string
}

// Report is the doctor's answer.
type Report struct {
	Findings []Finding
	Sockets  map[int]SocketCounts
}

// check describes one sysctl: ok decides on the value read, want is the fix.
type check struct {
	key, path, want, reason string
	ok                      func(v []int) bool
}

var checks = []check{
	{"net.ipv4.tcp_tw_reuse", "proc/sys/net/ipv4/tcp_tw_reuse", "1",
		"lets outgoing connections reuse TIME_WAIT ports (clients, WHIP publishing, load tests); 2 (the default) allows it for loopback only",
		func(v []int) bool { return v[0] == 1 }},
	{"net.ipv4.tcp_fin_timeout", "proc/sys/net/ipv4/tcp_fin_timeout", "30",
		"how long orphaned connections wait in FIN_WAIT2; 30 s frees them twice as fast as the default 60",
		func(v []int) bool { return v[0] <= 30 }},
	{"net.ipv4.tcp_keepalive_time", "proc/sys/net/ipv4/tcp_keepalive_time", "600",
		"idle time before keepalive probes; avhost sets 600 s per socket anyway, this covers other processes",
		func(v []int) bool { return v[0] <= 600 }},
	{"net.ipv4.tcp_keepalive_intvl", "proc/sys/net/ipv4/tcp_keepalive_intvl", "30",
		"interval between keepalive probes",
		func(v []int) bool { return v[0] <= 30 }},
	{"net.ipv4.tcp_keepalive_probes", "proc/sys/net/ipv4/tcp_keepalive_probes", "3",
		"unanswered probes before a peer is declared dead",
		func(v []int) bool { return v[0] <= 3 }},
	{"net.ipv4.ip_local_port_range", "proc/sys/net/ipv4/ip_local_port_range", "1024 65535",
		"ephemeral ports for outgoing connections: fewer than ~28k run out under churn (EADDRNOTAVAIL)",
		func(v []int) bool { return len(v) == 2 && v[1]-v[0] >= 28000 }},
	{"net.ipv4.tcp_max_tw_buckets", "proc/sys/net/ipv4/tcp_max_tw_buckets", "262144",
		"TIME_WAIT sockets the kernel keeps; past it they are destroyed with a warning",
		func(v []int) bool { return v[0] >= 65536 }},
	{"net.core.somaxconn", "proc/sys/net/core/somaxconn", "4096",
		"accept backlog: a reconnect storm after a restart overflows a small queue",
		func(v []int) bool { return v[0] >= 4096 }},
}

// Check reads root (""= the real /) and counts sockets on ports.
func Check(root string, ports []int) Report {
	var r Report
	for _, c := range checks {
		b, err := os.ReadFile(filepath.Join(root+"/", c.path))
		if err != nil {
			r.Findings = append(r.Findings, Finding{Key: c.key, Value: "unreadable", Want: c.want, Reason: err.Error()})
			continue
		}
		var v []int
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			v = append(v, n)
		}
		f := Finding{Key: c.key, Value: strings.Join(strings.Fields(string(b)), " "), OK: len(v) > 0 && c.ok(v), Reason: c.reason}
		if !f.OK {
			f.Want = c.want
		}
		r.Findings = append(r.Findings, f)
	}
	r.Findings = append(r.Findings, nofile(root))
	r.Sockets = map[int]SocketCounts{}
	for _, p := range ports {
		if c, err := CountSockets(root, p); err == nil {
			r.Sockets[p] = c
		}
	}
	return r
}

// WantNofile is the least open-files limit doctor accepts.
const WantNofile = 65536

// nofile reads the soft open-files limit (from root/proc/self/limits).
func nofile(root string) Finding {
	f := Finding{Key: "nofile", Reason: "every connection is a file descriptor; 50k connections need a limit above that (LimitNOFILE= in the unit, or ulimit -n)"}
	b, err := os.ReadFile(filepath.Join(root+"/", "proc/self/limits"))
	if err != nil {
		f.Value = "unreadable"
		return f
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			fs := strings.Fields(l)
			f.Value = fs[3]
			n, _ := strconv.Atoi(fs[3])
			f.OK = fs[3] == "unlimited" || n >= WantNofile
			if !f.OK {
				f.Want = strconv.Itoa(WantNofile)
			}
		}
	}
	return f
}

// Print writes the report for people, ending with a sysctl.d snippet for what to fix.
func (r Report) Print(w io.Writer) {
	for _, f := range r.Findings {
		mark := "ok  "
		if !f.OK {
			mark = "FIX "
		}
		fmt.Fprintf(w, "%s %-30s %-14s", mark, f.Key, f.Value)
		if !f.OK {
			fmt.Fprintf(w, " → %s", f.Want)
		}
		fmt.Fprintf(w, "\n     %s\n", f.Reason)
	}
	ports := make([]int, 0, len(r.Sockets))
	for p := range r.Sockets {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		c := r.Sockets[p]
		fmt.Fprintf(w, "port %d: server side %s; client side %s\n", p, states(c.Local), states(c.Remote))
	}
	if s := r.Snippet(); s != "" {
		fmt.Fprintf(w, "\n# /etc/sysctl.d/90-avhost.conf (avhost doctor --apply writes it, as root)\n%s", s)
	}
}

func states(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}

// Snippet is the sysctl.d content fixing every sysctl finding.
func (r Report) Snippet() string {
	var b strings.Builder
	for _, f := range r.Findings {
		if !f.OK && f.Key != "nofile" && f.Want != "" {
			fmt.Fprintf(&b, "%s = %s\n", f.Key, f.Want)
		}
	}
	return b.String()
}

// Apply writes the snippet under root/etc/sysctl.d and the values to root/proc/sys.
func (r Report) Apply(root string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("doctor: --apply needs root")
	}
	s := r.Snippet()
	if s == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(root+"/", "etc/sysctl.d/90-avhost.conf"), []byte(s), 0o644); err != nil {
		return err
	}
	for _, f := range r.Findings {
		if f.OK || f.Key == "nofile" {
			continue
		}
		p := filepath.Join(root+"/", "proc/sys", strings.ReplaceAll(f.Key, ".", "/"))
		if err := os.WriteFile(p, []byte(f.Want+"\n"), 0o644); err != nil {
			return fmt.Errorf("doctor: %s: %w", f.Key, err)
		}
	}
	return nil
}
