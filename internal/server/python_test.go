package server_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/testenv"
)

func TestPythonExampleAgainstALiveServer(t *testing.T) {
	python := testenv.RequirePython(t)
	h := startHost(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python,
		"../../examples/python/sync_and_interrupt.py",
		"--url", h.ws, "--token", token, "--session", "py").CombinedOutput()
	if err != nil {
		t.Fatalf("python example: %v\n%s", err, out)
	}
	for _, want := range []string{"captioned utterance 1: 8 words", "finished utterance 1: played 2000 ms", "interrupted utterance 2"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("%s", out)
}
