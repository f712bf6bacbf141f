package record

import (
	"os"
	"testing"
	"time"
)

// BenchmarkSegmentWrite is the muxing and writing of 40 ms of media (a 2.4 KB
// access unit and two Opus packets): ≈24 µs here, 0.06 % of a core, so a recording's
// cost is in being a reader of the stream, not in the file (recorder.go, batch).
func BenchmarkSegmentWrite(b *testing.B) {
	root, _ := os.OpenRoot(b.TempDir())
	root.Mkdir("s", 0o750)
	sg, err := openSegment(root, "s", time.Now(), 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	au := append([]byte{0, 0, 0, 1, 0x65}, make([]byte, 2400)...)
	for i := range au[5:] {
		au[5+i] = byte(i*7 + 1)
	}
	opus := make([]byte, 160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sg.writeVideo(au, int64(i*3600))
		sg.writeAudio(opus, int64(i*3600))
		sg.writeAudio(opus, int64(i*3600+1800))
	}
	b.StopTimer()
	sg.close()
}
