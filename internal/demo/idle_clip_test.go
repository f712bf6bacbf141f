package demo

import (
	"bytes"
	"testing"

	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// The demo's idle loop blinks once (a shut-eyed frame among open-eyed ones), breathes
// (the face moves and comes back to where the loop started), repeats pictures rather
// than redrawing them, and is what a demo session shows between utterances.
func TestDemoIdleLoopBlinksAndBreathes(t *testing.T) {
	clip := idleClip(128, 128, 25, 1)
	if len(clip) != 75 {
		t.Fatalf("%d frames, want 3 s at 25 fps", len(clip))
	}
	distinct := map[*byte]bool{}
	for _, f := range clip {
		distinct[&f[0]] = true
	}
	if len(distinct) < 4 || len(distinct) > 20 {
		t.Fatalf("%d distinct pictures in the loop", len(distinct))
	}
	open := drawFace(128, 128, 0, 1, 0)
	blinks := 0
	for _, f := range clip {
		for lower := -2; lower <= 2; lower++ { // the face breathes while it blinks
			if bytes.Equal(f, drawFace(128, 128, 0, 0, lower)) {
				blinks++
			}
		}
	}
	if blinks != 1 {
		t.Fatalf("eyes shut in %d frames, want one blink", blinks)
	}
	if !bytes.Equal(clip[0], open) || bytes.Equal(clip[len(clip)/4], open) {
		t.Fatal("the loop does not start at rest and move a quarter of the way in")
	}

	gsttest.Init()
	m := &session.Manager{}
	s, err := m.Create(session.Config{ID: "demo", Width: 128, Height: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	a, err := Start(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	v, err := s.Player().Video.Timeline()
	if err != nil {
		t.Fatal(err)
	}
	if n := v.IdleClipLen(); n != 75 {
		t.Fatalf("the demo session idles on %d frames, want its 75-frame loop", n)
	}
}
