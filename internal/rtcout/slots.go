package rtcout

import "sync"

// Slots is a viewer cap shared by several outputs: the host's cap, across sessions and
// both WebRTC backends. An output takes a slot under its own lock, in the same critical
// section as its per-session check and the insert of the viewer, so the two caps hold
// together under concurrency (lock order: output, then Slots). A nil *Slots is no cap.
type Slots struct {
	max int
	mu  sync.Mutex
	n   int
}

// NewSlots returns a cap of max slots (max ≤ 0: no cap).
func NewSlots(max int) *Slots { return &Slots{max: max} }

// Take reserves a slot; false when all are taken.
func (s *Slots) Take() bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.max > 0 && s.n >= s.max {
		return false
	}
	s.n++
	return true
}

// Give returns a slot taken with Take.
func (s *Slots) Give() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
}

// InUse is the number of slots taken.
func (s *Slots) InUse() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
