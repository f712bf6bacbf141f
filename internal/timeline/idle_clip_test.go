package timeline

import (
	"context"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/pcm"
)

// clipRig drives an Audio and a Video timeline together the way the elements do: audio
// chunks are emitted up to the video's next frame time, so an utterance's end is known
// when video reaches it.
type clipRig struct {
	t     *testing.T
	a     *Audio
	v     *Video[int]
	chunk []int16
	last  *Frame[int]
	shown []Frame[int]
}

func newClipRig(t *testing.T, clip []int) *clipRig {
	t.Helper()
	a, err := NewAudio(AudioConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVideo(VideoConfig[int]{FpsN: 25, FpsD: 1}, -1)
	if err != nil {
		t.Fatal(err)
	}
	v.SetIdleClip(clip)
	return &clipRig{t: t, a: a, v: v, chunk: make([]int16, a.ChunkSamples())}
}

// next emits one frame and checks it starts where the previous one ended: no gap and
// no overlap on the one grid, whatever the seam.
func (r *clipRig) next() Frame[int] {
	r.t.Helper()
	for r.a.NextPTS() <= r.v.NextPTS() {
		r.a.Fill(r.chunk)
	}
	f := r.v.Next()
	if r.last != nil && f.PTS != r.last.PTS+r.last.Duration {
		r.t.Fatalf("frame at %v after one at %v lasting %v: a jump in time", f.PTS, r.last.PTS, r.last.Duration)
	}
	if f.Duration <= 0 {
		r.t.Fatalf("frame at %v lasts %v", f.PTS, f.Duration)
	}
	r.last = &f
	r.shown = append(r.shown, f)
	return f
}

// speak begins an utterance of d of audio and n frames (data 1..n) at the next anchor.
func (r *clipRig) speak(d time.Duration, n int) *Utterance {
	r.t.Helper()
	u, err := r.a.Begin(r.a.Anchor(20*time.Millisecond), pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1})
	if err != nil {
		r.t.Fatal(err)
	}
	r.v.Begin(u, int64(n))
	if err := r.a.Write(context.Background(), u, make([]byte, 2*int(d*24000/time.Second))); err != nil {
		r.t.Fatal(err)
	}
	r.a.End(u)
	for i := 0; i < n; i++ {
		if err := r.v.Queue(context.Background(), u, int64(i), i+1); err != nil {
			r.t.Fatal(err)
		}
	}
	return u
}

func TestIdleClipFrameKOfTheLoopAtIdleFrameI(t *testing.T) {
	clip := []int{100, 101, 102, 103, 104}
	r := newClipRig(t, clip)
	for i := 0; i < 3*len(clip)+2; i++ {
		f := r.next()
		if f.Utterance || f.Loop != i%len(clip) || f.Data != clip[i%len(clip)] {
			t.Fatalf("idle frame %d: loop %d data %d, want clip frame %d", i, f.Loop, f.Data, i%len(clip))
		}
		if f.PTS != FramePTS(int64(i), 25, 1) {
			t.Fatalf("idle frame %d at %v, want %v", i, f.PTS, FramePTS(int64(i), 25, 1))
		}
	}
}

// An utterance pauses the loop: the idle frame after it shows the clip frame after the
// last one before it, after an end and after an interrupt, and every seam keeps time.
func TestIdleClipResumesWhereItStoppedAcrossUtterances(t *testing.T) {
	clip := []int{100, 101, 102, 103, 104, 105, 106}
	r := newClipRig(t, clip)
	for i := 0; i < 4; i++ {
		r.next()
	}
	for round := 0; round < 3; round++ {
		u := r.speak(200*time.Millisecond, 5)
		before := r.shown[len(r.shown)-1].Loop
		var f Frame[int]
		// Idle frames up to T0 (the last one cut short at T0), then the utterance's own.
		for f = r.next(); !f.Utterance; f = r.next() {
			if f.Loop != (before+1)%len(clip) {
				t.Fatalf("round %d: idle frame shows clip frame %d after %d", round, f.Loop, before)
			}
			before = f.Loop
		}
		if f.PTS != u.T0() || f.Index != 0 || f.Loop != -1 {
			t.Fatalf("round %d: first utterance frame %+v, want frame 0 at T0 %v", round, f, u.T0())
		}
		if round == 2 { // the last round is cut after two frames
			r.next()
			r.v.Interrupt()
			r.a.Interrupt()
		} else {
			for f = r.next(); f.Utterance; f = r.next() {
				if f.PTS != u.T0()+FramePTS(f.Index, 25, 1) {
					t.Fatalf("round %d: utterance frame %d at %v, want T0 + %d/fps", round, f.Index, f.PTS, f.Index)
				}
			}
			end, _ := u.End()
			if f.PTS < end || f.PTS >= end+FramePTS(1, 25, 1) {
				t.Fatalf("round %d: back to the loop at %v, utterance ended at %v", round, f.PTS, end)
			}
			if f.Loop != (before+1)%len(clip) {
				t.Fatalf("round %d: after the end the loop shows clip frame %d, want %d (it stopped at %d)", round, f.Loop, (before+1)%len(clip), before)
			}
			continue
		}
		if f = r.next(); f.Utterance || f.Loop != (before+1)%len(clip) {
			t.Fatalf("after the interrupt: %+v, want clip frame %d", f, (before+1)%len(clip))
		}
	}
	// Back on the loop, one clip frame per frame time.
	for i := 0; i < 2*len(clip); i++ {
		prev := r.shown[len(r.shown)-1].Loop
		if f := r.next(); f.Loop != (prev+1)%len(clip) {
			t.Fatalf("loop went %d → %d", prev, f.Loop)
		}
	}
}

// A new clip starts at its first frame; the old one's frames are released, and Close
// releases the clip in force.
func TestIdleClipIsReleasedWhenReplaced(t *testing.T) {
	live := map[int]int{}
	v, _ := NewVideo(VideoConfig[int]{FpsN: 25, Release: func(f int) { live[f]-- }}, 0)
	v.SetIdleClip([]int{1, 2, 3})
	v.Next()
	v.Next()
	v.SetIdleClip([]int{7, 8})
	if live[0] != -1 || live[1] != -1 || live[2] != -1 || live[3] != -1 {
		t.Fatalf("releases after replacing: %v", live)
	}
	if f := v.Next(); f.Data != 7 || f.Loop != 0 {
		t.Fatalf("new clip starts at %+v", f)
	}
	v.SetIdleClip(nil) // ignored
	if v.IdleClipLen() != 2 {
		t.Fatalf("empty clip replaced the clip: %d frames", v.IdleClipLen())
	}
	v.Close()
	if live[7] != -1 || live[8] != -1 {
		t.Fatalf("Close left the clip held: %v", live)
	}
}
