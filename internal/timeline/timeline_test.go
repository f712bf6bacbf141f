package timeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/pcm"
)

func TestFramePTSIsExactForFractionalRates(t *testing.T) {
	// 30000/1001: frame 107892 is at 3599.9964 s to the nanosecond (floor).
	if got, want := FramePTS(107892, 30000, 1001), time.Duration(3599996400000); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if FramesBefore(FramePTS(12345, 30000, 1001), 30000, 1001) != 12345 {
		t.Fatal("FramesBefore does not invert FramePTS")
	}
}

func TestAudioUnderrunDelaysTheRestAndCounts(t *testing.T) {
	a, err := NewAudio(AudioConfig{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.Begin(0, pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]int16, a.ChunkSamples())
	a.Fill(chunk) // nothing queued yet: a whole chunk of silence, the utterance moves 20 ms
	if u.Delay() != 20*time.Millisecond || a.Stats().Underruns != 1 {
		t.Fatalf("delay %v, underruns %d", u.Delay(), a.Stats().Underruns)
	}
	if err := a.Write(context.Background(), u, make([]byte, 2*480)); err != nil {
		t.Fatal(err)
	}
	a.End(u)
	if pts := a.Fill(chunk); pts != 20*time.Millisecond || u.State() != Finished {
		t.Fatalf("chunk at %v, state %v", pts, u.State())
	}
	if end, ok := u.End(); !ok || end != 40*time.Millisecond {
		t.Fatalf("end %v %v", end, ok)
	}
}

func TestBeginChecksTheAnchor(t *testing.T) {
	a, _ := NewAudio(AudioConfig{})
	chunk := make([]int16, a.ChunkSamples())
	a.Fill(chunk)
	f := pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1}
	for _, at := range []time.Duration{0, 25 * time.Millisecond} {
		if _, err := a.Begin(at, f); err == nil {
			t.Fatalf("Begin at %v accepted", at)
		}
	}
	if _, err := a.Begin(40*time.Millisecond, f); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Begin(60*time.Millisecond, f); err != ErrBusy {
		t.Fatalf("second Begin: %v", err)
	}
}

func TestVideoReleasesEveryFrameItDrops(t *testing.T) {
	live := map[int]bool{}
	v, _ := NewVideo(VideoConfig[int]{FpsN: 25, Release: func(f int) { delete(live, f) }}, 0)
	a, _ := NewAudio(AudioConfig{})
	u, _ := a.Begin(40*time.Millisecond, pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1})
	v.Begin(u, 10)
	for i := 1; i <= 5; i++ {
		live[i] = true
		if err := v.Queue(context.Background(), u, int64(i-1), i); err != nil {
			t.Fatal(err)
		}
	}
	if f := v.Next(); f.Utterance || f.PTS != 0 {
		t.Fatalf("frame before T0: %+v", f)
	}
	if f := v.Next(); !f.Utterance || f.PTS != 40*time.Millisecond || f.Data != 1 {
		t.Fatalf("first utterance frame: %+v", f)
	}
	v.Interrupt()
	if len(live) != 0 {
		t.Fatalf("frames still held after interrupt: %v", live)
	}
	if f := v.Next(); f.Utterance {
		t.Fatalf("utterance frame after interrupt: %+v", f)
	}
}

// Offer is the write for producers that must not be held up: under the Block policy,
// where Write would wait for room, Offer refuses the whole slice or frame at once.
func TestOfferRefusesAFullQueueUnderTheBlockPolicy(t *testing.T) {
	a, err := NewAudio(AudioConfig{MaxQueue: 40 * time.Millisecond, Overflow: Block})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := a.Begin(0, pcm.Format{Type: pcm.S16, Rate: 24000, Channels: 1})
	v, _ := NewVideo(VideoConfig[int]{FpsN: 25, MaxQueue: 1, Overflow: Block}, 0)
	v.Begin(u, -1)
	if err := a.Offer(u, make([]byte, 2*960)); err != nil { // 40 ms: exactly the cap
		t.Fatal(err)
	}
	if err := v.Offer(u, 0, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan [2]error, 1)
	go func() { done <- [2]error{a.Offer(u, make([]byte, 2)), v.Offer(u, 1, 2)} }()
	select {
	case errs := <-done:
		for _, err := range errs {
			if !errors.Is(err, ErrQueueFull) {
				t.Fatalf("offer to a full queue: %v, want ErrQueueFull", err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Offer waited for room under the Block policy")
	}
	if got := a.Stats(); got.Rejected != 1 || got.Blocked != 0 || got.QueuedSamples != 960 {
		t.Fatalf("audio stats %+v: want 1 rejected, none blocked, 960 samples queued", got)
	}
	if got := v.Stats(); got.Rejected != 1 || got.QueuedNow != 1 {
		t.Fatalf("video stats %+v: want 1 rejected, 1 queued", got)
	}
}
