package timeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/avhost/avhost/internal/pcm"
)

// State of an utterance; it only moves forward.
type State int32

const (
	Queued      State = iota // begun, its anchor not reached yet
	Playing                  // its first chunk was emitted
	Finished                 // all of it was emitted
	Interrupted              // cut by Interrupt
)

func (s State) String() string {
	return [...]string{"queued", "playing", "finished", "interrupted"}[s]
}

// Position is how much of an utterance was emitted into the pipeline.
type Position struct {
	Samples int64         // per channel, at the source's output rate
	Played  time.Duration // Samples as time
}

// Utterance is one waveform (and, through the video source, its frames) on the
// timeline. Audio and video share it: audio owns its progress, video reads the anchor,
// any underrun delay and the end.
type Utterance struct {
	ID uint64

	t0 atomic.Int64 // anchor in running time, on the chunk grid; moves only while queued

	rate   int
	in     pcm.Format
	res    *pcm.Resampler
	stats  pcm.Stats
	ended  bool // End was called (under Audio.mu)
	queued int64

	played atomic.Int64 // samples emitted
	gap    atomic.Int64 // silence samples inserted for underruns
	endPTS atomic.Int64 // running time where the utterance stopped; -1 while open
	state  atomic.Int32
	once   sync.Once
	done   chan struct{}
}

func newUtterance(id uint64, t0 time.Duration, rate int, in pcm.Format, outCh int) *Utterance {
	u := &Utterance{ID: id, rate: rate, in: in, done: make(chan struct{})}
	u.t0.Store(int64(t0))
	u.endPTS.Store(-1)
	if in.Rate != rate {
		u.res = pcm.NewResampler(in.Rate, rate, outCh)
	}
	return u
}

// T0 is the utterance's anchor in pipeline running time: its chunk k is at T0 + k·chunk
// and its frame i at T0 + i/fps (plus Delay after an underrun).
func (u *Utterance) T0() time.Duration { return time.Duration(u.t0.Load()) }

// State returns the utterance's state.
func (u *Utterance) State() State { return State(u.state.Load()) }

// Done is closed when the utterance finished or was interrupted.
func (u *Utterance) Done() <-chan struct{} { return u.done }

// Position returns what has been emitted so far.
func (u *Utterance) Position() Position {
	n := u.played.Load()
	return Position{Samples: n, Played: samplesToDur(n, u.rate)}
}

// Delay is the silence inserted into this utterance because its producer was late;
// everything after an underrun plays that much later than T0 + k·chunk.
func (u *Utterance) Delay() time.Duration { return samplesToDur(u.gap.Load(), u.rate) }

// End returns the running time at which the utterance stopped, and false while it plays.
func (u *Utterance) End() (time.Duration, bool) {
	e := u.endPTS.Load()
	return time.Duration(e), e >= 0
}

// Clipped counts float samples outside [-1, 1] that were clipped.
func (u *Utterance) Clipped() uint64 { return u.stats.Clipped }

func (u *Utterance) finish(s State, end time.Duration) {
	u.once.Do(func() {
		u.endPTS.Store(int64(end))
		u.state.Store(int32(s))
		close(u.done)
	})
}

func samplesToDur(n int64, rate int) time.Duration {
	return time.Duration(Scale(uint64(n), uint64(time.Second), uint64(rate)))
}
