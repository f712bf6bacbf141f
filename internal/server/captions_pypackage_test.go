package server_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// TestPythonPackageInstallsAndTakesNumpy: clients/python installs offline with pip
// (Debian's setuptools as the build backend) into a venv, passes its unit tests, and
// plays a numpy waveform and numpy frames with captions against a live server.
func TestPythonPackageInstallsAndTakesNumpy(t *testing.T) {
	python := testenv.RequirePython(t)
	if exec.Command(python, "-c", "import numpy, setuptools, pip").Run() != nil {
		t.Skip("needs python3-numpy, python3-setuptools and python3-pip")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	venv := filepath.Join(t.TempDir(), "venv")
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The system's websockets and numpy, seen from the venv: nothing is downloaded.
	run(python, "-m", "venv", "--system-site-packages", venv)
	py := filepath.Join(venv, "bin", "python")
	// A copy: setuptools builds in the source tree (build/, *.egg-info).
	src := filepath.Join(t.TempDir(), "python")
	run("cp", "-r", "../../clients/python", src)
	run(py, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps", src)
	// From the venv, not the checkout: the tests run in a directory without the package.
	tests, _ := filepath.Abs("../../clients/python/tests")
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "discover", "-s", tests)
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unit tests: %v\n%s", err, out)
	}
	h := startHost(t, nil)
	cmd = exec.CommandContext(ctx, py, filepath.Join(tests, "numpy_captions.py"), h.ws, token, "np")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("numpy client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "numpy utterance: played 1000 ms") {
		t.Fatalf("output: %s", out)
	}
	t.Logf("%s", out)
}
