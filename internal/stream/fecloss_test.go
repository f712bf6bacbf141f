package stream

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

func TestOpusExpectedLossPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		loss float64
		want int
	}{
		{"no report keeps the floor, so FEC stays on", 0, fecFloor},
		{"a NaN report keeps the floor", math.NaN(), fecFloor},
		{"1 % loss plans for two points over the floor", 0.01, fecFloor + 2},
		{"2 % loss plans for 13", 0.02, 13},
		{"5 % loss plans for 19", 0.05, 19},
		{"heavy loss is capped", 0.4, fecCap},
		{"total loss is capped", 1, fecCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fecTarget(tc.loss); got != tc.want {
				t.Fatalf("fecTarget(%v) = %d, want %d", tc.loss, got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name              string
		cur, target, want int
	}{
		{"a one-point move is ignored", 13, 14, 13},
		{"a two-point move is made", 13, 15, 15},
		{"a move down is made too", 19, 13, 13},
		{"back to the floor is made whatever the step", fecFloor + 1, fecFloor, fecFloor},
		{"up to the cap is made whatever the step", fecCap - 1, fecCap, fecCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fecNext(tc.cur, tc.target); got != tc.want {
				t.Fatalf("fecNext(%d, %d) = %d, want %d", tc.cur, tc.target, got, tc.want)
			}
		})
	}
}

func TestLossSmoothing(t *testing.T) {
	var l lossEWMA
	if l.get() != 0 {
		t.Fatal("a reader with no report has loss")
	}
	l.add(0.04)
	if l.get() != 0.04 {
		t.Fatalf("the first report is taken whole: %v", l.get())
	}
	l.add(0)
	if got := l.get(); math.Abs(got-0.02) > 1e-9 {
		t.Fatalf("a second report moves it halfway: %v", got)
	}
	for range 60 {
		l.add(0)
	}
	if fecTarget(l.get()) != fecFloor {
		t.Fatalf("a viewer whose loss ended still holds the encoder at %d", fecTarget(l.get()))
	}
	l.add(-3)
	l.add(7)
	if got := l.get(); got < 0 || got > 1 {
		t.Fatalf("a report out of range left %v", got)
	}
}

// The stream sets the running opusenc's expected loss from the worst reader's
// reports, and back to the floor when that reader leaves.
func TestStreamSetsOpusExpectedLossFromReports(t *testing.T) {
	text := strings.Replace(encodes, "! opusenc frame-size=20", "! opusenc name=aenc inband-fec=true frame-size=20", 1)
	p := gsttest.Pipeline(t, text)
	s, err := New(p, Config{AudioEncoder: "aenc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	enc, _ := p.GetElementByName("aenc")
	prop := func() int {
		v, err := enc.GetProperty("packet-loss-percentage")
		if err != nil {
			t.Fatal(err)
		}
		return v.(int)
	}
	if s.AudioLossPercent() != fecFloor || prop() != fecFloor {
		t.Fatalf("starts at %d (property %d), want the floor %d", s.AudioLossPercent(), prop(), fecFloor)
	}
	clean, err := s.Subscribe("", 0, func(*Unit) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(clean.Close)
	lossy, err := s.Subscribe("", 0, func(*Unit) {})
	if err != nil {
		t.Fatal(err)
	}
	gsttest.Play(t, p)
	clean.ReportAudioLoss(0)
	lossy.ReportAudioLoss(0.05)
	waitProp := func(want int) {
		t.Helper()
		deadline := time.Now().Add(3 * fecPeriod)
		for prop() != want {
			if time.Now().After(deadline) {
				t.Fatalf("packet-loss-percentage %d, want %d", prop(), want)
			}
			time.Sleep(50 * time.Millisecond) // polling the element's property
		}
	}
	waitProp(fecTarget(0.05))
	lossy.Close()
	waitProp(fecFloor)
	if s.AudioLossPercent() != fecFloor {
		t.Fatalf("AudioLossPercent %d after the lossy reader left", s.AudioLossPercent())
	}
}
