package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, root, path, content string) {
	t.Helper()
	p := filepath.Join(root, path)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeProc lays out a /proc tree with the given sysctl values.
func fakeProc(t *testing.T, vals map[string]string) string {
	root := t.TempDir()
	for k, v := range vals {
		write(t, root, "proc/sys/"+strings.ReplaceAll(k, ".", "/"), v+"\n")
	}
	write(t, root, "proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n")
	// Port 8080 = 0x1F90: one listener, two established, three TIME_WAIT on the server
	// side, one TIME_WAIT on the client side (remote port 8080).
	write(t, root, "proc/net/tcp", `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C001 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:C002 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:C003 06 00000000:00000000 03:00000AAA 00000000     0        0 0 3 0000000000000000
   4: 0100007F:1F90 0100007F:C004 06 00000000:00000000 03:00000AAA 00000000     0        0 0 3 0000000000000000
   5: 0100007F:1F90 0100007F:C005 06 00000000:00000000 03:00000AAA 00000000     0        0 0 3 0000000000000000
   6: 0100007F:C006 0100007F:1F90 06 00000000:00000000 03:00000AAA 00000000     0        0 0 3 0000000000000000
`)
	write(t, root, "proc/net/tcp6", "  sl  local_address rem_address st\n")
	return root
}

func TestDoctorFindsEachSetting(t *testing.T) {
	bad := map[string]string{
		"net.ipv4.tcp_tw_reuse": "2", "net.ipv4.tcp_fin_timeout": "60", "net.ipv4.tcp_keepalive_time": "7200",
		"net.ipv4.tcp_keepalive_intvl": "75", "net.ipv4.tcp_keepalive_probes": "9",
		"net.ipv4.ip_local_port_range": "32768\t33767", "net.ipv4.tcp_max_tw_buckets": "4096", "net.core.somaxconn": "128",
	}
	r := Check(fakeProc(t, bad), []int{8080})
	got := map[string]Finding{}
	for _, f := range r.Findings {
		got[f.Key] = f
	}
	for k := range bad {
		t.Run(k+" is flagged", func(t *testing.T) {
			if f := got[k]; f.OK || f.Want == "" || f.Reason == "" {
				t.Fatalf("%+v", f)
			}
		})
	}
	if f := got["nofile"]; f.OK || f.Value != "1024" {
		t.Fatalf("nofile: %+v", f)
	}
	c := r.Sockets[8080]
	if c.Local["LISTEN"] != 1 || c.Local["ESTABLISHED"] != 2 || c.Local["TIME_WAIT"] != 3 || c.Remote["TIME_WAIT"] != 1 {
		t.Fatalf("socket counts %+v", c)
	}
	snip := r.Snippet()
	for _, want := range []string{"net.ipv4.tcp_tw_reuse = 1", "net.ipv4.ip_local_port_range = 1024 65535", "net.core.somaxconn = 4096"} {
		if !strings.Contains(snip, want) {
			t.Fatalf("snippet lacks %q:\n%s", want, snip)
		}
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "port 8080: server side ESTABLISHED 2, LISTEN 1, TIME_WAIT 3; client side TIME_WAIT 1") {
		t.Fatalf("report:\n%s", b.String())
	}

	good := map[string]string{
		"net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "30", "net.ipv4.tcp_keepalive_time": "600",
		"net.ipv4.tcp_keepalive_intvl": "30", "net.ipv4.tcp_keepalive_probes": "3",
		"net.ipv4.ip_local_port_range": "1024 65535", "net.ipv4.tcp_max_tw_buckets": "262144", "net.core.somaxconn": "4096",
	}
	for _, f := range Check(fakeProc(t, good), nil).Findings {
		if !f.OK && f.Key != "nofile" {
			t.Errorf("good value flagged: %+v", f)
		}
	}
}

func TestApplyWritesTheSnippetAndValues(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("apply is root only")
	}
	root := fakeProc(t, map[string]string{"net.ipv4.tcp_tw_reuse": "0", "net.core.somaxconn": "128"})
	os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755)
	if err := Check(root, nil).Apply(root); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "proc/sys/net/ipv4/tcp_tw_reuse"))
	s, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.d/90-avhost.conf"))
	if strings.TrimSpace(string(b)) != "1" || !strings.Contains(string(s), "net.core.somaxconn = 4096") {
		t.Fatalf("value %q, snippet %q", b, s)
	}
}
