package server_test

import (
	"context"
	"testing"
	"time"
)

// TestLateJoinerAndPLIGetAKeyframe: a viewer joining a running session gets a picture
// within one keyframe interval (2 s here); a PLI brings the next one well before the
// interval is up; a storm of PLIs costs at most one key frame per 500 ms.
func TestLateJoinerAndPLIGetAKeyframe(t *testing.T) {
	h := encodingHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	time.Sleep(1300 * time.Millisecond) // join late: mid-GOP of a running session
	joined := time.Now()
	r := joinDemo(ctx, t, h)
	waitFor(t, 2*time.Second+500*time.Millisecond, func() bool { return r.Keyframes.Load() > 0 }, "a key frame for the late joiner")
	t.Logf("late joiner: first key frame %v after joining", time.Duration(r.LastKeyframe.Load()-joined.UnixNano()).Round(time.Millisecond))

	time.Sleep(600 * time.Millisecond) // past the rate limit of the last request
	n, asked := r.Keyframes.Load(), time.Now()
	if err := r.SendPLI(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 400*time.Millisecond, func() bool { return r.Keyframes.Load() > n }, "a key frame after PLI")
	t.Logf("PLI → key frame in %v", time.Duration(r.LastKeyframe.Load()-asked.UnixNano()).Round(time.Millisecond))

	time.Sleep(600 * time.Millisecond)
	n = r.Keyframes.Load()
	for i := 0; i < 20; i++ { // 20 PLIs over one second
		r.SendPLI()
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the last request's key frame
	// 1.2 s at one per 500 ms: 3 at most, plus one the GOP may have brought.
	if got := r.Keyframes.Load() - n; got > 4 {
		t.Fatalf("20 PLIs in a second brought %d key frames; the limit is one per 500 ms", got)
	} else {
		t.Logf("20 PLIs in a second: %d key frames", got)
	}
}
