package rtcout

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func nackOf(seqs ...uint16) *rtcp.TransportLayerNack {
	return &rtcp.TransportLayerNack{Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
}

func seqsOf(n *rtcp.TransportLayerNack) []uint16 {
	var out []uint16
	for _, p := range n.Nacks {
		out = append(out, p.PacketList()...)
	}
	return out
}

func TestNACKGate(t *testing.T) {
	now := time.Unix(100, 0)
	t.Run("recent media is resent; old packets, padding and unknown ones are not", func(t *testing.T) {
		g := &nackGate{}
		g.record(10, 1200, false, false, now.Add(-time.Second)) // older than maxNackAge
		g.record(11, 1200, false, false, now.Add(-100*time.Millisecond))
		g.record(12, 267, true, false, now.Add(-100*time.Millisecond))
		n := nackOf(10, 11, 12, 13)
		g.trim(n, now)
		if got := seqsOf(n); !slices.Equal(got, []uint16{11}) {
			t.Fatalf("resent %v, want [11]", got)
		}
		if g.nacked.Load() != 4 || g.refused.Load() != 3 || g.resent.Load() != 1200 {
			t.Fatalf("nacked %d refused %d resent %d", g.nacked.Load(), g.refused.Load(), g.resent.Load())
		}
	})
	t.Run("resends stay within a fifth of the estimate", func(t *testing.T) {
		g := &nackGate{}
		g.setEstimate(func() int { return 400_000 }) // 10 kB/s of resends, 2.5 kB at once
		var all []uint16
		for s := uint16(0); s < 100; s++ {
			g.record(s, 1000, false, false, now.Add(-50*time.Millisecond))
			all = append(all, s)
		}
		g.trim(nackOf(), now.Add(-time.Second)) // starts the bucket a second ago
		n := nackOf(all...)
		g.trim(n, now)
		if got := len(seqsOf(n)); got != 2 {
			t.Fatalf("%d of 100 resent at once, want 2 (2.5 kB of 1 kB packets)", got)
		}
		// A burst a second later (new packets): the bucket refilled to its cap only.
		later := now.Add(time.Second)
		all = all[:0]
		for s := uint16(100); s < 200; s++ {
			g.record(s, 1000, false, false, later.Add(-50*time.Millisecond))
			all = append(all, s)
		}
		n = nackOf(all...)
		g.trim(n, later)
		if got := len(seqsOf(n)); got != 2 {
			t.Fatalf("%d of 100 resent a second later, want 2", got)
		}
	})
	t.Run("the first loss is mended: the budget starts full", func(t *testing.T) {
		g := &nackGate{}
		g.setEstimate(func() int { return 400_000 })
		g.record(40, 1000, false, false, now.Add(-20*time.Millisecond))
		n := nackOf(40)
		g.trim(n, now)
		if got := seqsOf(n); !slices.Equal(got, []uint16{40}) {
			t.Fatalf("the viewer's first NACK got %v resent, want [40]", got)
		}
	})
	t.Run("a refused packet since the last key frame asks for one; one before it does not", func(t *testing.T) {
		g := &nackGate{}
		asked := 0
		g.setLost(func() { asked++ })
		g.record(20, 1200, false, false, now.Add(-time.Second)) // a frame before the key frame
		g.record(21, 1200, false, true, now.Add(-900*time.Millisecond))
		g.record(22, 1200, false, false, now.Add(-800*time.Millisecond))
		g.record(23, 267, true, false, now.Add(-800*time.Millisecond))
		g.trim(nackOf(20, 23), now)
		if asked != 0 {
			t.Fatalf("%d key frames asked for a loss the last key frame mended, or for padding", asked)
		}
		g.trim(nackOf(20, 22), now)
		if asked != 1 || g.keys.Load() != 1 {
			t.Fatalf("%d key frames asked for a refused packet after the key frame, want 1", asked)
		}
		g.record(30, 1200, false, true, now) // the key frame asked for
		g.trim(nackOf(22), now)
		if asked != 1 {
			t.Fatal("a key frame asked for again after the one that mends the loss")
		}
	})
	t.Run("a packet resent as often as allowed and asked for again asks for a key frame", func(t *testing.T) {
		g := &nackGate{}
		asked := 0
		g.setLost(func() { asked++ })
		g.record(50, 1200, false, false, now.Add(-50*time.Millisecond))
		for i := range maxResends {
			n := nackOf(50)
			g.trim(n, now)
			if got := seqsOf(n); !slices.Equal(got, []uint16{50}) || asked != 0 {
				t.Fatalf("NACK %d: resent %v, %d key frames asked for", i+1, got, asked)
			}
		}
		n := nackOf(50)
		g.trim(n, now)
		if got := seqsOf(n); len(got) != 0 || asked != 1 {
			t.Fatalf("NACK %d: resent %v, %d key frames asked for; want none resent, one key frame", maxResends+1, got, asked)
		}
	})
}
