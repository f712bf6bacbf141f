package record

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/avhost/avhost/internal/session"
)

// CheckName says whether id may name a session's recording directory and files. The
// session ids' rule (session.ValidID) admits "." and "..", which as a path would leave
// the recording directory; a leading dot is refused here. os.Root confines every file
// operation besides (recorder.go), so this is the first of two walls.
func CheckName(id string) error {
	if session.ValidID(id) != nil || strings.HasPrefix(id, ".") {
		return fmt.Errorf("%w: %q", ErrName, id)
	}
	return nil
}

// Ext is the recordings' file extension: MPEG-TS (docs/recording.md says why).
const Ext = ".ts"

// timeLayout is a segment's UTC start in ISO 8601 basic format, which sorts as time does.
const timeLayout = "20060102T150405Z"

// segmentName is the file of the segment of session id starting at wall time start,
// relative to the recording directory: <id>/<id>-20261126T083000Z.ts, or with "-N"
// before the extension for the Nth name taken in the same second (a restart).
func segmentName(id string, start time.Time, n int) string {
	stem := id + "-" + start.UTC().Format(timeLayout)
	if n > 0 {
		stem = fmt.Sprintf("%s-%d", stem, n)
	}
	return path.Join(id, stem+Ext)
}

// ownSegment says whether file (a name in the session's directory) is one of session
// id's segments: only those are ever deleted by the byte cap.
func ownSegment(id, file string) bool {
	stem, ok := strings.CutSuffix(file, Ext)
	if !ok {
		return false
	}
	ts, ok := strings.CutPrefix(stem, id+"-")
	if !ok || len(ts) < len(timeLayout) {
		return false
	}
	_, err := time.Parse(timeLayout, ts[:len(timeLayout)])
	return err == nil
}

// byAge sorts segment file names oldest first: by stem, so "…Z" comes before "…Z-1".
func byAge(files []string) {
	sort.Slice(files, func(i, j int) bool {
		return strings.TrimSuffix(files[i], Ext) < strings.TrimSuffix(files[j], Ext)
	})
}
