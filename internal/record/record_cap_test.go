package record_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/record"
)

// waitStatus polls rec's status (bounded) until ok says it is there.
func waitStatus(t *testing.T, rec *record.Recorder, ok func(record.Status) bool) record.Status {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		st := rec.Status()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never came: %+v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter; bounded
	}
}

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"demo", true}, {"alice_2.v1-x", true},
		{"", false}, {".", false}, {"..", false}, {".hidden", false},
		{"a/b", false}, {"a\\b", false}, {"a b", false}, {string(make([]byte, 65)), false},
	} {
		if err := record.CheckName(c.id); (err == nil) != c.ok || (err != nil && !errors.Is(err, record.ErrName)) {
			t.Errorf("CheckName(%q) = %v, want ok %v", c.id, err, c.ok)
		}
	}
}

// TestRecordByteCapDeletesOldestSegmentsOnly: the session's directory already holds
// three older segments of 3 MiB and files of the operator's; with a 4 MiB cap the
// first rotation deletes the two oldest segments, and nothing else.
func TestRecordByteCapDeletesOldestSegmentsOnly(t *testing.T) {
	_, st := liveSession(t, "capped")
	dir := t.TempDir()
	sd := filepath.Join(dir, "capped")
	os.MkdirAll(sd, 0o750)
	old := []string{"capped-20250101T000000Z.ts", "capped-20250101T000100Z.ts", "capped-20250101T000200Z.ts"}
	for _, f := range append(old, "notes.ts", "capped-notes.ts") {
		if err := os.WriteFile(filepath.Join(sd, f), make([]byte, 3<<20), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := record.Start(st, record.Config{Dir: dir, Session: "capped", Segment: time.Second, MaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, rec, func(s record.Status) bool { return s.Segments >= 1 })
	got := rec.Close() // the final status: the rotation's cap enforcement is done

	for i, f := range old {
		_, err := os.Stat(filepath.Join(sd, f))
		if gone := errors.Is(err, os.ErrNotExist); gone != (i < 2) {
			t.Errorf("%s: deleted %v, want %v", f, gone, i < 2)
		}
	}
	for _, f := range []string{"notes.ts", "capped-notes.ts"} {
		if _, err := os.Stat(filepath.Join(sd, f)); err != nil {
			t.Errorf("%s, not a segment, was touched: %v", f, err)
		}
	}
	if got.Deleted != 2 {
		t.Errorf("status says %d deleted, want 2", got.Deleted)
	}
}

// TestRecordStaysInItsDirectory: a symbolic link planted where the session's
// directory goes, pointing outside, gets nothing written through it: the recording
// fails with an error in its status instead.
func TestRecordStaysInItsDirectory(t *testing.T) {
	_, st := liveSession(t, "escape")
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	rec, err := record.Start(st, record.Config{Dir: dir, Session: "escape"})
	if err == nil {
		got := waitStatus(t, rec, func(s record.Status) bool { return s.Error != "" })
		rec.Close()
		t.Logf("refused: %s", got.Error)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("the recording wrote %d files outside its directory", len(ents))
	}
}
