package session_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The session speaks in its own events and errors; a wire protocol (ingest's, the
// signaling one) is its drivers' business, so no protocol package may be among its
// dependencies, direct or not.
func TestSessionImportsNoWireProtocol(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/avhost/avhost/") && strings.HasSuffix(p, "proto") {
			t.Errorf("session depends on the wire protocol package %s", p)
		}
	}
}
