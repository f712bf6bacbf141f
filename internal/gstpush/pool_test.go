package gstpush_test

import (
	"testing"
	"time"

	"github.com/avhost/avhost/internal/gstpush"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// A burst of frames past what the pool keeps is resident while held, stays warm for
// the next burst, and is gone once it has lingered unused: then only PoolBuffers stay.
func TestPoolGivesBackABurstOnceItLingers(t *testing.T) {
	gsttest.Init()
	const size, burst, linger = 1 << 20, 48, 200 * time.Millisecond
	keep := gstpush.PoolBuffers(size)
	if keep != 4 {
		t.Fatalf("PoolBuffers(1 MiB) = %d, want 4 (4 MiB)", keep)
	}
	p, err := gstpush.NewPoolLinger(size, linger)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	frame := make([]byte, size)
	for i := range frame {
		frame[i] = byte(i)
	}
	rss0 := procstat.RSSKB(0)
	hold := func() {
		var held []*gstpush.Held
		for i := 0; i < burst; i++ {
			h, err := p.Held(frame)
			if err != nil {
				t.Fatal(err)
			}
			if h.Size() != size {
				t.Fatalf("frame %d has %d bytes", i, h.Size())
			}
			held = append(held, h)
		}
		for _, h := range held {
			h.Release()
		}
	}
	hold()
	rss1 := procstat.RSSKB(0)
	hold() // the same memory again: no growth
	p.Trim()
	rss2 := procstat.RSSKB(0)
	time.Sleep(linger) // the time the surplus must sit unused
	p.Trim()
	rss3 := procstat.RSSKB(0)
	t.Logf("RSS %d → burst released %d → second burst %d → lingered %d MiB (%d frames of 1 MiB)", rss0>>10, rss1>>10, rss2>>10, rss3>>10, burst)
	if rss1-rss0 < (burst-8)<<10 || rss2-rss1 > 4<<10 {
		t.Fatalf("a burst of %d MiB left %d MiB warm, then grew by %d MiB", burst, (rss1-rss0)>>10, (rss2-rss1)>>10)
	}
	if rss3-rss0 > (keep+4)<<10 {
		t.Fatalf("after lingering %d MiB stay, want about the pool's %d", (rss3-rss0)>>10, keep)
	}
}

// BenchmarkFrameCopy is the cost of one 512×512 BGR frame into a held buffer: one at
// a time, and 100 held at once as an utterance's frames queued seconds ahead (past
// PoolBuffers: memory that lingers from the previous burst).
func BenchmarkFrameCopy(b *testing.B) {
	gsttest.Init()
	const size = 512 * 512 * 3
	frame := make([]byte, size)
	for _, burst := range []int{1, 100} {
		b.Run(map[int]string{1: "one at a time", 100: "100 queued"}[burst], func(b *testing.B) {
			p, err := gstpush.NewPool(size)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Free()
			b.SetBytes(size)
			held := make([]*gstpush.Held, 0, burst)
			for i := 0; i < b.N; i++ {
				h, err := p.Held(frame)
				if err != nil {
					b.Fatal(err)
				}
				if held = append(held, h); len(held) == burst {
					for _, h := range held {
						h.Release()
					}
					held = held[:0]
				}
			}
			for _, h := range held {
				h.Release()
			}
		})
	}
}
