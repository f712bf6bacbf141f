package server_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// The Python example (the packaged client) against a live server, with Debian 12's
// websockets 10.4 and with a current release (15.0.1, fetched by make test into
// build/py-websockets15): 14+ renamed extra_headers to additional_headers.
func TestPythonExampleAgainstALiveServer(t *testing.T) {
	python := testenv.RequirePython(t)
	h := startHost(t, nil)
	ws15, _ := filepath.Abs("../../build/py-websockets15/root/usr/lib/python3/dist-packages")
	for _, c := range []struct{ name, path, version string }{
		{"websockets 10 (Debian 12)", "", "10."},
		{"websockets 15", ws15, "15."},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := os.Environ()
			if c.path != "" {
				if _, err := os.Stat(c.path); err != nil {
					t.Skipf("%v: make test fetches it (scripts/websockets15.sh)", err)
				}
				env = append(env, "PYTHONPATH="+c.path)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			v := exec.CommandContext(ctx, python, "-c", "import websockets; print(websockets.__version__)")
			v.Env = env
			got, err := v.Output()
			if err != nil || !strings.HasPrefix(string(got), c.version) {
				t.Fatalf("websockets %q (%v), want %s*", got, err, c.version)
			}
			cmd := exec.CommandContext(ctx, python, "../../examples/python/sync_and_interrupt.py",
				"--url", h.ws, "--token", token, "--session", "py"+c.version[:2])
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python example: %v\n%s", err, out)
			}
			for _, want := range []string{"captioned utterance 1: 8 words", "finished utterance 1: played 2000 ms", "interrupted utterance 2"} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("output lacks %q:\n%s", want, out)
				}
			}
			t.Logf("websockets %s\n%s", strings.TrimSpace(string(got)), out)
		})
	}
}
