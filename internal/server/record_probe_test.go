package server_test

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// probeStreams returns the codecs of file's streams ("h264,opus"), failing the test
// unless ffprobe reads it and ffmpeg decodes it to the end without an error.
func probeStreams(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(file), err, out)
	}
	seen := map[string]bool{} // MPEG-TS lists its streams under its program too
	var codecs []string
	for _, l := range strings.Fields(string(out)) {
		if !seen[l] {
			seen[l] = true
			_, c, _ := strings.Cut(l, ",")
			codecs = append(codecs, c)
		}
	}
	sort.Strings(codecs)
	if dec, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(dec) > 0 {
		t.Fatalf("ffmpeg decode of %s: %v\n%s", filepath.Base(file), err, dec)
	}
	return strings.Join(codecs, ",")
}
