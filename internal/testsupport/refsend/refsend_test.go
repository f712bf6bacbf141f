package refsend

import (
	"os/exec"
	"testing"
)

func TestEncodedPatternSplitsIntoPicturesAndPackets(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("no ffmpeg")
	}
	aus, opus, err := readMedia(t.TempDir(), 4, 128, 128, 25, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(aus) != 100 || len(opus) < 200 || len(opus) > 201 { // one more for the pre-skip
		t.Fatalf("%d pictures (want 100), %d Opus packets (want 200, or 201)", len(aus), len(opus))
	}
}
