// Package testenv says which tests run where. `make check` runs `go test -short`: unit
// tests with real GStreamer, and nothing that needs a browser, a network namespace or
// Python. `make test` runs everything, and there a missing tool that `make deps`
// installs is a failure, not a skip. A missing capability (no CAP_SYS_ADMIN for a
// network namespace, say in an unprivileged container) is a skip in both: no make
// target can grant it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RequireBrowser skips t under -short or when AVHOST_NO_BROWSER is set, and returns
// the path of Debian's chromium.
func RequireBrowser(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("drives Chromium: not in -short")
	}
	if os.Getenv("AVHOST_NO_BROWSER") != "" {
		t.Skip("AVHOST_NO_BROWSER set")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not installed (make deps installs it)")
	}
	return path
}

// RequirePython skips t under -short and returns the path of Debian's python3, the one
// with python3-websockets.
func RequirePython(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs Python: not in -short")
	}
	const path = "/usr/bin/python3"
	if err := exec.Command(path, "-c", "import websockets").Run(); err != nil {
		t.Fatalf("%s with websockets: %v (make deps installs python3-websockets)", path, err)
	}
	return path
}

// RequireNetns skips t under -short, and when this process cannot make a network
// namespace (`unshare -n`, which needs CAP_SYS_ADMIN; the tests then set sysctls in it).
func RequireNetns(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("makes a network namespace: not in -short")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed")
	}
	if err := netnsProbe(); err != "" {
		t.Skipf("cannot make a network namespace here: %s", err)
	}
}

// Long skips t under -short: t runs an external player (ffprobe, rtspsrc) against the
// server for seconds of media, or plays seconds of it in real time, by design.
func Long(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("plays seconds of media: not in -short")
	}
}

// netnsProbe tries it once per test binary: the answer does not change while it runs.
var netnsProbe = sync.OnceValue(func() string {
	out, err := exec.Command("unshare", "-n", "true").CombinedOutput()
	if err != nil {
		return strings.TrimSpace(err.Error() + " " + string(out))
	}
	return ""
})
