package elements_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pluginDir returns the directory holding libgstavhost.so: the one `make plugin`
// built (AVHOST_PLUGIN_DIR), or a fresh build for a plain `go test`.
func pluginDir(t *testing.T) string {
	if d := os.Getenv("AVHOST_PLUGIN_DIR"); d != "" {
		return d
	}
	d := t.TempDir()
	out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(d, "libgstavhost.so"), "../plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	return d
}

func gstCmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GST_PLUGIN_PATH="+dir, "GST_REGISTRY="+filepath.Join(t.TempDir(), "registry.bin"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPluginLoadsInGStreamerTools(t *testing.T) {
	dir := pluginDir(t)
	out := gstCmd(t, dir, "gst-inspect-1.0", "avhost")
	for _, el := range []string{"singleframesrc", "pcmslicesrc"} {
		if !strings.Contains(out, el) {
			t.Fatalf("gst-inspect-1.0 avhost does not list %s:\n%s", el, out)
		}
	}
	// Both elements in a gst-launch line, non-live, to EOS.
	out = gstCmd(t, dir, "gst-launch-1.0", "-e",
		"singleframesrc", "is-live=false", "num-buffers=50", "width=64", "height=64", "!", "videoconvert", "!", "fakesink",
		"pcmslicesrc", "is-live=false", "num-buffers=50", "!", "audioconvert", "!", "fakesink")
	if !strings.Contains(out, "EOS") {
		t.Fatalf("gst-launch-1.0 did not reach EOS:\n%s", out)
	}
}
