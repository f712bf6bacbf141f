package player_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/player"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/timeline"
)

// clipBase marks idle clip frames: clip frame k carries clipBase+k where utterance
// frames carry their index.
const clipBase = 1000

// A live pipeline loops the idle clip, plays an utterance that ends and one that is
// interrupted, and the buffers that come out of the element show: the loop one clip
// frame per frame time, paused by each utterance and resumed with the next clip frame;
// utterance frame i at T0 + i/fps; no gap in time at any seam.
func TestIdleClipLoopsAroundUtterancesInAPipeline(t *testing.T) {
	r := newRig(t, true, "25/1", "", "", true, true)
	const n = 7
	clip := make([][]byte, n)
	for k := range clip {
		clip[k] = make([]byte, r.pl.Video.FrameSize())
		binary.LittleEndian.PutUint64(clip[k], uint64(clipBase+k+1))
	}
	if err := r.pl.SetIdleClip(clip); err != nil {
		t.Fatal(err)
	}
	gsttest.Play(t, r.p)
	if err := r.video.WaitFor(10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var t0s []time.Duration
	for round := 0; round < 2; round++ {
		pb, err := r.pl.Play(ctx, player.Utterance{PCM: s16Bytes(tone(rate / 2)), Format: mono, Frames: r.frames(12)})
		if err != nil {
			t.Fatal(err)
		}
		t0s = append(t0s, pb.T0())
		if round == 1 {
			// Cut it once a few of its frames are out.
			for r.video.WaitFor(len(r.video.Bufs())+1, 2*time.Second) == nil {
				if b := r.video.Bufs(); frameIndex(b[len(b)-1].Data) >= 3 && frameIndex(b[len(b)-1].Data) < clipBase {
					break
				}
			}
			if _, ok := r.pl.Interrupt(); !ok {
				t.Fatal("nothing to interrupt")
			}
		}
		if err := pb.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.video.WaitFor(len(r.video.Bufs())+10, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	bufs := r.video.Bufs()
	last, utt, resumes := -1, 0, 0
	wasUtt := false
	for j, b := range bufs {
		if j > 0 && b.PTS != bufs[j-1].PTS+bufs[j-1].Duration {
			t.Fatalf("buffer %d at %v after one at %v lasting %v", j, b.PTS, bufs[j-1].PTS, bufs[j-1].Duration)
		}
		i := frameIndex(b.Data)
		switch {
		case i >= clipBase:
			k := int(i - clipBase)
			if last >= 0 && k != (last+1)%n {
				t.Fatalf("buffer %d at %v shows clip frame %d after %d", j, b.PTS, k, last)
			}
			if wasUtt {
				resumes++
			}
			last, wasUtt = k, false
		case i >= 0:
			t0 := t0s[0]
			if len(t0s) > 1 && b.PTS >= t0s[1] {
				t0 = t0s[1]
			}
			// A frame repeated (the audio outlasts the frames: the last one holds) is
			// checked where it first showed.
			repeat := j > 0 && frameIndex(bufs[j-1].Data) == i
			if want := t0 + timeline.FramePTS(i, 25, 1); !repeat && b.PTS != want {
				t.Fatalf("utterance frame %d at %v, want %v", i, b.PTS, want)
			}
			utt++
			wasUtt = true
		}
	}
	if resumes != 2 || utt < 12+3 {
		t.Fatalf("%d returns to the loop and %d utterance frames, want 2 and at least 15", resumes, utt)
	}
	t.Logf("%d buffers: the loop resumed after an end and an interrupt with the next clip frame; %d utterance frames on T0 + i/fps", len(bufs), utt)
}
