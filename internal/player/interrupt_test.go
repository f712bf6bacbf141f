package player_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/player"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/timeline"
)

func TestInterruptCutsWithinOneChunkAndReportsWhatWasEmitted(t *testing.T) {
	r := newRig(t, true, "25/1", "", "", true, true)
	play(t, r)
	wave := tone(5 * rate)
	pb, err := r.pl.Play(context.Background(), player.Utterance{PCM: s16Bytes(wave), Format: mono, Frames: r.frames(125)})
	if err != nil {
		t.Fatal(err)
	}
	// Let it play ~1 s of audio, measured in emitted chunks, not sleeps.
	waitPTS(t, r, pb.T0()+time.Second)
	at, _ := r.pl.Audio.RunningTime()
	pos, ok := r.pl.Interrupt()
	if !ok {
		t.Fatal("Interrupt found nothing playing")
	}
	<-pb.Done()
	if pb.State() != timeline.Interrupted {
		t.Fatalf("state %v, want interrupted", pb.State())
	}
	// A second utterance can start right after.
	pb2, err := r.pl.Play(context.Background(), player.Utterance{PCM: s16Bytes(tone(rate / 5)), Format: mono})
	if err != nil {
		t.Fatalf("new utterance after interrupt: %v", err)
	}
	waitPTS(t, r, pb2.T0()-20*time.Millisecond)

	var emitted int64
	var lastPTS time.Duration
	for _, b := range r.audio.Bufs() {
		if b.PTS >= pb2.T0() {
			break
		}
		n := 0
		for _, v := range bytesS16(b.Data) {
			if v != 0 {
				n++
			}
		}
		if n > 0 {
			emitted += int64(n)
			lastPTS = b.PTS
		}
	}
	if lastPTS >= at+20*time.Millisecond {
		t.Fatalf("utterance audio in a chunk at %v, interrupt at %v: more than one chunk later", lastPTS, at)
	}
	if emitted != pos.Samples {
		t.Fatalf("reported %d samples played, %d were emitted", pos.Samples, emitted)
	}
	for _, b := range r.video.Bufs() {
		if frameIndex(b.Data) >= 0 && b.PTS >= at+40*time.Millisecond {
			t.Fatalf("utterance frame %d at %v after interrupt at %v", frameIndex(b.Data), b.PTS, at)
		}
	}
	t.Logf("interrupt at %v: last utterance chunk at %v, played %v (%d samples)", at, lastPTS, pos.Played, pos.Samples)
}

func TestSlowFramesNeverMakeAudioChoppy(t *testing.T) {
	r := newRig(t, true, "25/1", "", "", true, true)
	play(t, r)
	wave := tone(3 * rate)
	u, err := r.pl.Begin(0, mono, 75)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.pl.Audio.Timeline()
	if err := a.Write(context.Background(), u, s16Bytes(wave)); err != nil {
		t.Fatal(err)
	}
	a.End(u)
	// Frames at half real time: frame i is handed over when frame 2i is due.
	frames := r.frames(75)
	late := 0
	for i := range frames {
		waitPTS(t, r, u.T0()+timeline.FramePTS(int64(2*i), 25, 1)-40*time.Millisecond)
		if u.State() >= timeline.Finished {
			break
		}
		if err := r.pl.Video.QueueFrame(context.Background(), u, int64(i), frames[i]); errors.Is(err, timeline.ErrLate) {
			late++
		} else if err != nil && !errors.Is(err, timeline.ErrInterrupted) {
			t.Fatal(err)
		}
	}
	<-u.Done()
	end, _ := u.End()
	waitPTS(t, r, end)
	k := 0
	for _, b := range r.audio.Bufs() {
		if b.PTS < u.T0() || b.PTS >= end {
			continue
		}
		for j, v := range bytesS16(b.Data) {
			if v != wave[k*r.chunkN+j] {
				t.Fatalf("chunk %d of the utterance differs at sample %d: audio was not continuous", k, j)
			}
		}
		k++
	}
	if k != 150 || u.Delay() != 0 {
		t.Fatalf("%d chunks, delay %v: want 150 contiguous chunks, no delay", k, u.Delay())
	}
	st := r.pl.Video.Stats()
	if late == 0 || st.Late == 0 || st.Held == 0 {
		t.Fatalf("late frames %d (stats %+v): want late frames dropped and counted, the last held", late, st)
	}
	t.Logf("audio continuous over %d chunks; video: %d late dropped, %d held", k, st.Late, st.Held)
}

func TestBadInputIsRefusedAndThePipelineKeepsRunning(t *testing.T) {
	r := newRig(t, true, "25/1", "max-queue-ms=200 overflow=reject", "", true, false)
	play(t, r)
	a, _ := r.pl.Audio.Timeline()
	f32 := pcm.Format{Type: pcm.F32, Rate: rate, Channels: 1}
	u, err := r.pl.Begin(0, f32, -1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"a frame of the wrong size is refused", func() error { return r.pl.Video.QueueFrame(ctx, u, 0, make([]byte, 7)) }, nil},
		{"an idle frame of the wrong size is refused", func() error { return r.pl.Video.SetIdle(make([]byte, 3)) }, nil},
		{"NaN samples are refused whole", func() error { return a.WriteFloats(ctx, u, []float32{0.1, float32(math.NaN())}) }, pcm.ErrNonFinite},
		{"Inf samples are refused whole", func() error { return a.WriteFloats(ctx, u, []float32{float32(math.Inf(1))}) }, pcm.ErrNonFinite},
		{"an odd byte count is refused", func() error { return a.Write(ctx, u, make([]byte, 7)) }, pcm.ErrPartialSample},
		{"a write larger than the whole queue is refused", func() error {
			return a.WriteFloats(ctx, u, make([]float32, rate/2))
		}, timeline.ErrQueueFull},
		{"a write into a full queue is rejected by the reject policy", func() error {
			if err := a.WriteFloats(ctx, u, make([]float32, rate/8)); err != nil {
				return nil
			}
			return a.WriteFloats(ctx, u, make([]float32, rate/8))
		}, timeline.ErrQueueFull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	t.Run("samples beyond ±1.0 are clipped, not wrapped", func(t *testing.T) {
		r.pl.Interrupt()
		u, err := r.pl.Begin(0, f32, -1)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WriteFloats(ctx, u, []float32{2.0, -2.0, 1.5, 0.5}); err != nil {
			t.Fatal(err)
		}
		a.End(u)
		<-u.Done()
		end, _ := u.End()
		waitPTS(t, r, end)
		var got []int16
		for _, b := range r.audio.Bufs() {
			if d := bytesS16(b.Data); b.PTS >= u.T0() && b.PTS < end && got == nil && d[0] != 0 {
				got = d[:4]
			}
		}
		want := []int16{32767, -32767, 32767, 16384}
		for i := range want {
			if got == nil || got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
		if u.Clipped() != 3 {
			t.Fatalf("clipped %d, want 3", u.Clipped())
		}
	})
	// The pipeline kept running through all of it.
	n := len(r.audio.Bufs())
	if err := r.audio.WaitFor(n+5, 2*time.Second); err != nil {
		t.Fatalf("pipeline stopped after bad input: %v", err)
	}
	if st := a.Stats(); st.Rejected != 2 {
		t.Fatalf("rejected %d, want 2", st.Rejected)
	}
}

func TestBlockingOverflowWaitsForRoom(t *testing.T) {
	r := newRig(t, true, "25/1", "max-queue-ms=100", "", false, false)
	play(t, r)
	a, _ := r.pl.Audio.Timeline()
	u, err := r.pl.Begin(0, mono, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 300 ms into a 100 ms queue: the write returns only once playout made room.
	if err := a.Write(context.Background(), u, s16Bytes(tone(rate/20))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		if err := a.Write(ctx, u, s16Bytes(tone(rate/20))); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.Stats(); st.Blocked == 0 {
		t.Fatal("no write blocked")
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := a.Write(short, u, s16Bytes(tone(rate/10))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked write with expiring context: %v", err)
	}
}

func play(t *testing.T, r *rig) {
	t.Helper()
	gsttest.Play(t, r.p)
	if err := r.audio.WaitFor(3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// waitPTS waits until the audio appsink has seen a chunk at or after pts.
func waitPTS(t *testing.T, r *rig, pts time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := r.audio.Bufs()
		if len(b) > 0 && b[len(b)-1].PTS >= pts {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no chunk at %v within 10 s", pts)
		}
		if err := r.audio.WaitFor(len(b)+1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
}
