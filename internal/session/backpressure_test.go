package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/timeline"
)

// Audio and Frame never wait for room, even when the pipeline's elements are told to
// block (overflow=block): the rule is the session's, not the template's. A full queue
// is ErrQueueFull, with the text clients have always seen, and nothing of it queued.
func TestAudioAndFrameNeverBlockEvenWhenTheElementsWould(t *testing.T) {
	gsttest.Init()
	tmpl := strings.ReplaceAll(session.DefaultPipeline, "overflow=reject", "overflow=block")
	if strings.Count(tmpl, "overflow=block") != 2 {
		t.Fatal("the default pipeline no longer sets overflow on both sources; update this test")
	}
	m := &session.Manager{}
	s, err := m.Create(session.Config{ID: "bp", Width: 64, Height: 64, MaxQueue: time.Second, MaxFrames: 2, Pipeline: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseAll()
	a, err := s.Player().Audio.Timeline()
	if err != nil {
		t.Fatal(err)
	}
	ve, err := s.Pipeline().GetElementByName("video")
	if err != nil {
		t.Fatal(err)
	}
	if vo, _ := ve.GetProperty("overflow"); a.Config().Overflow != timeline.Block || vo != "block" {
		t.Fatalf("the elements are not in overflow=block (video: %v): the test proves nothing", vo)
	}
	if err := s.Begin(1, pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1}, -1); err != nil {
		t.Fatal(err)
	}

	type result struct {
		audio, frame error
		audioWrites  int
	}
	done := make(chan result, 1)
	go func() {
		var r result
		// 0.5 s slices into a 1 s queue that drains at real time: full within a few.
		half := make([]byte, 2*12000)
		for r.audioWrites = 1; r.audioWrites <= 10; r.audioWrites++ {
			if r.audio = s.Audio(1, half); r.audio != nil {
				break
			}
		}
		// Frames 100.. are 4 s ahead, never late; the queue holds 2.
		frame := make([]byte, s.Player().Video.FrameSize())
		for i := int64(100); i < 110; i++ {
			if r.frame = s.Frame(1, i, frame); r.frame != nil {
				break
			}
		}
		done <- r
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Audio or Frame blocked on a full queue")
	}
	for what, err := range map[string]error{"audio": r.audio, "frame": r.frame} {
		if !errors.Is(err, session.ErrQueueFull) {
			t.Fatalf("%s into a full queue: %v, want ErrQueueFull", what, err)
		}
		if err.Error() != timeline.ErrQueueFull.Error() {
			t.Errorf("%s: text %q changed (clients see it)", what, err)
		}
	}
	if r.audioWrites > 4 {
		t.Errorf("%d half-second writes went into a 1 s queue before it refused", r.audioWrites-1)
	}
	st := s.Stats()
	if st.Audio.Rejected != 1 || st.Audio.Blocked != 0 || st.Video.Rejected != 1 {
		t.Fatalf("stats %+v / %+v: want one refusal each and no write that waited", st.Audio, st.Video)
	}
}
