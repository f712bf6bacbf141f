package session_test

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// FuzzIdleClipUpload runs scripts of idle clip messages as a client could send them
// (begin with any count, frames at any index with any bytes as PNG) against a real
// session, and checks that nothing panics and that the host's reservation is always
// exactly the upload in progress plus the clip shown.
func FuzzIdleClipUpload(f *testing.F) {
	gsttest.Init()
	cfg := session.Config{ID: "fuzz", Width: 16, Height: 16, Format: "png"}
	cost, err := session.Cost(cfg)
	if err != nil {
		f.Fatal(err)
	}
	m := &session.Manager{MemoryBudget: cost + 40*16*16*3}
	s, err := m.Create(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.CloseAll)
	var good bytes.Buffer
	png.Encode(&good, image.NewGray(image.Rect(0, 0, 16, 16)))
	const fb = 16 * 16 * 3
	f.Add([]byte{0, 2, 1, 0, 1, 1}, good.Bytes())
	f.Add([]byte{0, 200, 0, 3, 1, 0, 1, 2, 1, 1, 0, 1}, []byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, script, payload []byte) {
		// The model: frames of the upload in progress (none between runs) and of the
		// clip shown (left by the runs before).
		pending, shown := 0, int((m.Reserved()-cost)/fb)
		set := map[int]bool{}
		for len(script) >= 2 {
			op, arg := script[0], int(script[1])
			script = script[2:]
			if op%2 == 0 {
				n := arg % 64
				err := s.BeginIdleClip(n)
				if ok := n >= 1 && (n+shown)*fb <= 40*fb; ok != (err == nil) {
					t.Fatalf("begin %d with %d shown: %v", n, shown, err)
				}
				pending, set = 0, map[int]bool{} // a begin drops the upload in progress, even refused
				if err == nil {
					pending = n
				}
			} else {
				data := good.Bytes()
				if op&2 != 0 {
					data = payload
				}
				i := arg % 16
				n, err := s.IdleClipFrame(i, data)
				if err == nil && i < pending {
					set[i] = true
					if len(set) == pending {
						if n != pending {
							t.Fatalf("clip of %d complete, reported %d", pending, n)
						}
						shown, pending = pending, 0
					}
				}
			}
			if got, want := m.Reserved()-cost, int64(pending+shown)*fb; got != want {
				t.Fatalf("%d bytes reserved, want %d (%d uploading, %d shown)", got, want, pending, shown)
			}
		}
		// Leave the session as found: no upload in progress.
		if pending > 0 {
			s.BeginIdleClip(1)
			s.IdleClipFrame(0, good.Bytes())
		}
	})
}
