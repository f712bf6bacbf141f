package session_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/png"
	"testing"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// An idle clip's bytes are reserved in the host's memory budget while it uploads and
// while it is shown, and given back when it is replaced or the session closes; past
// the budget, the frame cap or max_queue_bytes the upload is refused before anything
// is allocated.
func TestIdleClipIsCountedAgainstTheBudgetAndTheCaps(t *testing.T) {
	gsttest.Init()
	cfg := session.Config{ID: "clip", Width: 64, Height: 64, MaxQueueBytes: 40 * 64 * 64 * 3}
	cost, err := session.Cost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const fb = 64 * 64 * 3
	m := &session.Manager{MemoryBudget: cost + 30*fb}
	s, err := m.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	frame := make([]byte, fb)

	for _, tc := range []struct {
		name string
		n    int
		want error
	}{
		{"no frames is refused", 0, session.ErrLimit},
		{"more than 10 s of frames is refused", s.MaxIdleClip() + 1, session.ErrLimit},
		{"more than max_queue_bytes is refused", 41, session.ErrLimit},
		{"more than the host's budget is refused", 31, session.ErrMemoryBudget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.BeginIdleClip(tc.n); !errors.Is(err, tc.want) {
				t.Fatalf("clip of %d frames: %v, want %v", tc.n, err, tc.want)
			}
			if got := m.Reserved(); got != cost {
				t.Fatalf("a refused clip left %d bytes reserved", got-cost)
			}
		})
	}
	if err := s.BeginIdleClip(20); err != nil {
		t.Fatal(err)
	}
	if got := m.Reserved() - cost; got != 20*fb {
		t.Fatalf("an upload of 20 frames reserves %d bytes, want %d", got, 20*fb)
	}
	for i := 0; i < 20; i++ {
		shown, err := s.IdleClipFrame(i, frame)
		if err != nil || (shown == 20) != (i == 19) {
			t.Fatalf("frame %d: shown %d, %v", i, shown, err)
		}
	}
	if _, err := s.IdleClipFrame(0, frame); err == nil {
		t.Fatal("a frame with no upload begun was taken")
	}
	// A second clip of 15 frames: while it uploads, both are held (35 > 30 fails)...
	if err := s.BeginIdleClip(15); !errors.Is(err, session.ErrMemoryBudget) {
		t.Fatalf("a second clip past the budget while the first shows: %v", err)
	}
	// ... and one of 10 replaces the first, giving its bytes back.
	if err := s.SetIdleClip(make([][]byte, 10)); !errors.Is(err, session.ErrBadFrame) {
		t.Fatalf("empty frames: %v, want ErrBadFrame", err)
	}
	if got := m.Reserved() - cost; got != 20*fb {
		t.Fatalf("a failed upload left %d bytes reserved, want %d", got, 20*fb)
	}
	clip := make([][]byte, 10)
	for i := range clip {
		clip[i] = frame
	}
	if err := s.SetIdleClip(clip); err != nil {
		t.Fatal(err)
	}
	if got := m.Reserved() - cost; got != 10*fb {
		t.Fatalf("after the replacement %d bytes reserved, want %d", got, 10*fb)
	}
	if err := s.Idle(frame); err != nil { // a still frame replaces the clip
		t.Fatal(err)
	}
	if got := m.Reserved(); got != cost {
		t.Fatalf("after a still idle frame replaced the clip, %d bytes still reserved", got-cost)
	}
	if err := s.SetIdleClip(clip); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginIdleClip(5); err != nil { // left pending at close
		t.Fatal(err)
	}
	m.Close(s.ID)
	if got := m.Reserved(); got != 0 {
		t.Fatalf("%d bytes reserved after close", got)
	}
}

// A PNG idle clip frame whose header claims a huge picture is refused from its header
// (DecodeConfig first), as the idle frame and utterance frames are.
func TestIdleClipFrameChecksThePNGHeaderFirst(t *testing.T) {
	gsttest.Init()
	m := &session.Manager{}
	s, err := m.Create(session.Config{ID: "clippng", Width: 32, Height: 32, Format: "png"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	var good bytes.Buffer
	png.Encode(&good, image.NewRGBA(image.Rect(0, 0, 32, 32)))
	bomb := append([]byte(nil), good.Bytes()...)
	binary.BigEndian.PutUint32(bomb[16:], 65535) // IHDR width
	binary.BigEndian.PutUint32(bomb[20:], 65535) // IHDR height
	if err := s.BeginIdleClip(2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IdleClipFrame(0, bomb); !errors.Is(err, session.ErrBadFrame) {
		t.Fatalf("65535×65535 header: %v, want ErrBadFrame", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.IdleClipFrame(i, good.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Player().Video.Timeline()
	if err != nil {
		t.Fatal(err)
	}
	if n := v.IdleClipLen(); n != 2 {
		t.Fatalf("the idle picture has %d frames, want the clip's 2", n)
	}
}
