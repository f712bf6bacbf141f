package player_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// rss is this process's resident memory in bytes (/proc/self/statm).
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// An idle clip costs its frames once: looping it three times adds nothing, and
// replacing it gives the memory back to the system (the clip's pool is unmapped, not
// kept for reuse).
func TestIdleClipMemoryIsHeldOnceAndGivenBack(t *testing.T) {
	const n = 100 // 75 MiB of 512×512 BGR frames
	p := gsttest.Pipeline(t, "singleframesrc name=v is-live=false width=512 height=512 ! appsink name=vs sync=false")
	ve, _ := p.GetElementByName("v")
	v, err := singleframesrc.FromElement(ve)
	if err != nil {
		t.Fatal(err)
	}
	out := gsttest.Collect(t, p, "vs", nil)
	gsttest.Play(t, p)
	if err := out.WaitFor(50, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	before := rss(t)
	clip, err := v.NewIdleClip(n)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, v.FrameSize()) // one Go buffer, so RSS counts the clip only
	for i := 0; i < n; i++ {
		frame[0] = byte(i)
		if err := clip.Set(i, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.ShowIdleClip(clip); err != nil {
		t.Fatal(err)
	}
	held := rss(t)
	if err := out.WaitFor(len(out.Bufs())+3*n, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	looped := rss(t)
	if err := v.SetIdleClip([][]byte{frame}); err != nil {
		t.Fatal(err)
	}
	if err := out.WaitFor(len(out.Bufs())+50, 10*time.Second); err != nil { // the old frames leave the pipeline
		t.Fatal(err)
	}
	// The appsink's samples hold buffers until go-gst's finalizers free them: collect
	// until the old clip's last buffer is gone (bounded).
	after := rss(t)
	for deadline := time.Now().Add(5 * time.Second); after-before > 8<<20 && time.Now().Before(deadline); after = rss(t) {
		runtime.GC()
		time.Sleep(20 * time.Millisecond) // finalizers run on their own goroutine
	}
	const mib = 1 << 20
	clipBytes := int64(n) * int64(v.FrameSize())
	t.Logf("RSS: %d MiB idle, +%d MiB with the %d MiB clip, +%d MiB after looping it 3 times, +%d MiB once replaced",
		before/mib, (held-before)/mib, clipBytes/mib, (looped-before)/mib, (after-before)/mib)
	if held-before < clipBytes*9/10 {
		t.Fatalf("the clip added %d MiB, less than its %d MiB: the measurement is off", (held-before)/mib, clipBytes/mib)
	}
	if looped-held > 8*mib {
		t.Fatalf("looping the clip grew RSS by %d MiB: repeats are copied", (looped-held)/mib)
	}
	if after-before > 8*mib {
		t.Fatalf("%d MiB still resident after the clip was replaced", (after-before)/mib)
	}
}
