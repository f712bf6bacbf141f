package record_test

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/record"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/testsupport/avmeasure"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// liveSession is a real session (the default pipeline: one H.264 and one Opus
// encode) and its stream.
func liveSession(t *testing.T, id string) (*session.Session, *stream.Stream) {
	t.Helper()
	gsttest.Init()
	m := &session.Manager{}
	sess, err := m.Create(session.Config{ID: id, Width: 128, Height: 128})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.CloseAll)
	st, err := stream.New(sess.Pipeline(), stream.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return sess, st
}

// segments lists the .ts files of a session's recording directory, oldest first.
func segments(t *testing.T, dir, id string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, id, id+"-*"+record.Ext))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// probe returns the codecs of file's streams and its duration, and fails unless
// ffmpeg decodes the whole file without an error.
func probe(t *testing.T, file string) (codecs []string, start, dur float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_name", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(file), err, out)
	}
	seen := map[string]bool{} // MPEG-TS lists its streams under the program too
	for _, l := range strings.Fields(string(out)) {
		if !seen[l] {
			seen[l] = true
			_, c, _ := strings.Cut(l, ",")
			codecs = append(codecs, c)
		}
	}
	out, _ = exec.Command("ffprobe", "-v", "error", "-show_entries", "format=start_time,duration", "-of", "csv=p=0", file).CombinedOutput()
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 2 {
		t.Fatalf("ffprobe %s: start and duration %q", filepath.Base(file), out)
	}
	start, err1 := strconv.ParseFloat(f[0], 64)
	dur, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("ffprobe %s: start and duration %q", filepath.Base(file), out)
	}
	sort.Strings(codecs)
	if dec, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(dec) > 0 {
		t.Fatalf("ffmpeg decode of %s: %v\n%s", filepath.Base(file), err, dec)
	}
	return codecs, start, dur
}

// TestRecordSegmentsPlayAndKeepSync records the flash+beep pattern for 20 s in 5 s
// segments, then reads every segment back with ffprobe/ffmpeg (both streams, decodes
// cleanly) and measures the A/V offset of the pulses in the files, as the offline
// measurement of `avhost run record` does.
func TestRecordSegmentsPlayAndKeepSync(t *testing.T) {
	testenv.Long(t) // seconds of live media and ffprobe/ffmpeg: not in make check
	sess, st := liveSession(t, "pulses")
	dir := t.TempDir()
	if d := os.Getenv("AVHOST_RECORD_KEEP"); d != "" {
		dir = d // keep the files to look at them
	}
	rec, err := record.Start(st, record.Config{Dir: dir, Session: "pulses", Segment: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, err := demo.PlayPulses(ctx, sess, 1, 21)
	if err != nil {
		t.Fatal(err)
	}
	select { // the utterance plays out: 21 pulses, and the recording holds them
	case <-u.Done():
	case <-time.After(40 * time.Second):
		t.Fatal("the pulse utterance did not finish")
	}
	fin := rec.Close()
	files := segments(t, dir, "pulses")
	t.Logf("status %+v; %d files", fin, len(files))
	if len(files) < 4 || fin.Segments != len(files) || fin.Drops != 0 || fin.Error != "" {
		t.Fatalf("want ≥4 segments of 5 s, no drops, no error; got %d files, status %+v", len(files), fin)
	}
	var all []float64
	for i, f := range files {
		codecs, start, dur := probe(t, f)
		if strings.Join(codecs, ",") != "h264,opus" {
			t.Fatalf("%s: streams %v, want h264 and opus", filepath.Base(f), codecs)
		}
		if i < len(files)-1 && (dur < 4.9 || dur > 6) {
			t.Errorf("%s: %.2f s, want a 5 s segment (ended at the next key frame)", filepath.Base(f), dur)
		}
		fl, err := avmeasure.Flashes(f)
		if err != nil {
			t.Fatal(err)
		}
		bp, err := avmeasure.Beeps(f)
		if err != nil {
			t.Fatal(err)
		}
		// A segment starts at a key frame, which may fall inside a pulse: its cut
		// halves (within 100 ms of either end) are no pulse onsets.
		var inner []float64
		for _, x := range fl {
			if x > start+0.1 && x < start+dur-0.1 {
				inner = append(inner, x)
			}
		}
		off := avmeasure.Offsets(inner, bp)
		t.Logf("%s: %.2f s, %v, offsets %.1f ms", filepath.Base(f), dur, codecs, off)
		all = append(all, off...)
	}
	if len(all) < 16 {
		t.Fatalf("only %d flash/beep pairs in the recording", len(all))
	}
	worst := 0.0
	for _, o := range all {
		worst = math.Max(worst, math.Abs(o))
	}
	t.Logf("recording A/V offset, %d pulses: median %+.1f ms, worst |offset| %.1f ms", len(all), avmeasure.Percentile(all, 0.5), worst)
	if worst > 5 {
		t.Fatalf("A/V offset up to %.1f ms in the recording, want ≤ 5 ms", worst)
	}
}
