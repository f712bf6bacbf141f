package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// avhost serve stops at a misspelt key, naming the file, the line and the key path,
// before it binds or starts anything.
func TestServeConfigMisspeltKeyStops(t *testing.T) {
	f := filepath.Join(t.TempDir(), "avhost.yaml")
	if err := os.WriteFile(f, []byte("listen: \"127.0.0.1:0\"\nwebrtc:\n  iceservers:\n    - urls: [\"stun:stun.example.net\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := serve(context.Background(), []string{"-config", f})
	want := f + `: config: line 3: unknown key "webrtc.iceservers"`
	if err == nil || err.Error() != want {
		t.Fatalf("serve: %v; want %s", err, want)
	}
}
