package ingest

import (
	"testing"
	"time"
)

// Past its burst of 64, a connection's refusals come at most 100 a second: 164 take at
// least a second (a lower bound, so a loaded machine cannot make it fail).
func TestRefusalsArePacedPastTheBurst(t *testing.T) {
	var b refusalBudget
	start := time.Now()
	for i := 0; i < 64; i++ {
		b.wait()
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Logf("the burst took %v (a loaded machine?)", d)
	}
	for i := 0; i < 100; i++ {
		b.wait()
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("164 refusals in %v: not paced", d)
	}
}
