package timeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/avhost/avhost/internal/pcm"
)

// Overflow is what a write does when the audio queue has no room.
type Overflow int

const (
	// Block makes the producer wait until there is room (or the utterance ends).
	Block Overflow = iota
	// Reject returns ErrQueueFull and queues nothing of the write.
	Reject
)

// AudioConfig configures an Audio timeline.
type AudioConfig struct {
	Rate     int           // output rate; defaults to 24000
	Channels int           // output channels; defaults to 1
	Chunk    time.Duration // chunk length; defaults to 20 ms
	MaxQueue time.Duration // queued audio cap; defaults to 30 s
	Overflow Overflow      // defaults to Block
	Fade     time.Duration // fade-out on interrupt; defaults to 5 ms
	// WaitForData makes Fill wait for a playing utterance's producer instead of
	// inserting silence: right for non-live rendering, where nothing is real time.
	WaitForData bool
}

func (c *AudioConfig) fill() error {
	if c.Rate == 0 {
		c.Rate = 24000
	}
	if c.Channels == 0 {
		c.Channels = 1
	}
	if c.Chunk == 0 {
		c.Chunk = 20 * time.Millisecond
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 30 * time.Second
	}
	if c.Fade == 0 {
		c.Fade = 5 * time.Millisecond
	}
	if c.Channels != 1 && c.Channels != 2 {
		return fmt.Errorf("%w: %d channels", ErrConfig, c.Channels)
	}
	if n := int64(c.Chunk) * int64(c.Rate); n%int64(time.Second) != 0 || c.Chunk <= 0 {
		return fmt.Errorf("%w: %v at %d Hz is not a whole number of samples", ErrConfig, c.Chunk, c.Rate)
	}
	if c.MaxQueue < c.Chunk {
		return fmt.Errorf("%w: max queue %v shorter than a chunk", ErrConfig, c.MaxQueue)
	}
	return nil
}

// AudioStats counts what happened on an Audio timeline.
type AudioStats struct {
	Chunks         uint64 // chunks emitted
	SilentChunks   uint64 // chunks with no utterance audio
	Underruns      uint64 // chunks an utterance needed data for and had too little
	Rejected       uint64 // writes refused by the reject policy
	Blocked        uint64 // writes that had to wait for room
	Interrupts     uint64
	QueuedSamples  int64 // now
	UtterancesDone uint64
}

// Audio schedules PCM into fixed chunks: chunk n of the stream is at n·Chunk running
// time, and chunks with nothing to play are silence, so the stream never stalls.
// Fill is called by the element's push loop; everything else by producers.
type Audio struct {
	cfg     AudioConfig
	chunkN  int // sample frames per chunk
	fadeN   int
	maxN    int // queue cap in sample frames
	mu      sync.Mutex
	room    *sync.Cond
	data    *sync.Cond // Fill waits on it under WaitForData
	closed  bool       // Unblock was called and Rearm not since: Fill no longer waits
	q       ring
	next    int64 // index of the next chunk to emit
	utt     *Utterance
	cutLeft int // frames of fade still to emit after an interrupt
	ids     uint64
	stats   AudioStats
}

// NewAudio returns an Audio timeline.
func NewAudio(cfg AudioConfig) (*Audio, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	a := &Audio{cfg: cfg}
	a.chunkN = int(int64(cfg.Chunk) * int64(cfg.Rate) / int64(time.Second))
	a.fadeN = int(int64(cfg.Fade) * int64(cfg.Rate) / int64(time.Second))
	a.maxN = int(int64(cfg.MaxQueue) * int64(cfg.Rate) / int64(time.Second))
	a.q = newRing(a.maxN * cfg.Channels)
	a.room = sync.NewCond(&a.mu)
	a.data = sync.NewCond(&a.mu)
	return a, nil
}

// Config returns the filled configuration.
func (a *Audio) Config() AudioConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// ChunkSamples is the number of sample frames per chunk.
func (a *Audio) ChunkSamples() int { return a.chunkN }

// ChunkPTS is the running time of stream chunk n.
func (a *Audio) ChunkPTS(n int64) time.Duration { return time.Duration(n) * a.cfg.Chunk }

// NextPTS is the running time of the next chunk to be emitted.
func (a *Audio) NextPTS() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ChunkPTS(a.next)
}

// SeekTo moves the next chunk to the first grid point at or after t, for a live source
// that starts at a running time later than 0. It never moves backwards.
func (a *Audio) SeekTo(t time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := int64((t + a.cfg.Chunk - 1) / a.cfg.Chunk)
	if n <= a.next {
		return
	}
	// An utterance begun before the stream started keeps its lead from the new start.
	if u := a.utt; u != nil && u.State() == Queued {
		u.t0.Add(int64(a.ChunkPTS(n - a.next)))
	}
	a.next = n
}

// Reset interrupts any utterance and moves the grid back to running time 0, for a
// restart of the element.
func (a *Audio) Reset() {
	a.Interrupt()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.q.truncate(0)
	a.cutLeft = 0
	a.next = 0
}

// Anchor returns the first chunk-grid time at least lead after the next chunk to be
// emitted: where a new utterance can start without its first chunk being late.
func (a *Audio) Anchor(lead time.Duration) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.next + int64((lead+a.cfg.Chunk-1)/a.cfg.Chunk)
	return a.ChunkPTS(n)
}

// Begin starts an utterance at running time t0 (on the chunk grid, not yet emitted)
// whose PCM will come in format in.
func (a *Audio) Begin(t0 time.Duration, in pcm.Format) (*Utterance, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.utt != nil {
		return nil, ErrBusy
	}
	if t0%a.cfg.Chunk != 0 || t0 < a.ChunkPTS(a.next) {
		return nil, fmt.Errorf("%w: %v (next chunk at %v, grid %v)", ErrAnchor, t0, a.ChunkPTS(a.next), a.cfg.Chunk)
	}
	a.ids++
	a.utt = newUtterance(a.ids, t0, a.cfg.Rate, in, a.cfg.Channels)
	return a.utt, nil
}

// Write queues raw PCM (in the utterance's format) for u. When the queue has no room
// it waits (Block) or refuses (Reject), as AudioConfig.Overflow says.
func (a *Audio) Write(ctx context.Context, u *Utterance, raw []byte) error {
	s, err := pcm.Decode(nil, raw, u.in, &u.stats)
	if err != nil {
		return err
	}
	return a.queue(ctx, u, s, true)
}

// Offer queues raw PCM for u and never waits, whatever AudioConfig.Overflow says:
// when the queue has no room for all of it, nothing is queued, Rejected counts it and
// ErrQueueFull is returned. It is the write for a producer that must not be held up,
// such as a network reader serving other sessions.
func (a *Audio) Offer(u *Utterance, raw []byte) error {
	s, err := pcm.Decode(nil, raw, u.in, &u.stats)
	if err != nil {
		return err
	}
	return a.queue(context.Background(), u, s, false)
}

// WriteFloats queues float samples (interleaved, in the utterance's rate and channels).
func (a *Audio) WriteFloats(ctx context.Context, u *Utterance, f []float32) error {
	if len(f)%u.in.Channels != 0 {
		return pcm.ErrPartialSample
	}
	s, err := pcm.DecodeFloats(nil, f, &u.stats)
	if err != nil {
		return err
	}
	return a.queue(ctx, u, s, true)
}

// queue adds s for u; mayWait lets a full queue wait under the Block policy.
func (a *Audio) queue(ctx context.Context, u *Utterance, s []int16, mayWait bool) error {
	s = pcm.Remix(s, u.in.Channels, a.cfg.Channels)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.writable(u); err != nil {
		return err
	}
	if u.res != nil {
		s = u.res.Process(nil, s)
	}
	if len(s) > a.q.cap() {
		a.stats.Rejected++
		return fmt.Errorf("%w: write of %d samples exceeds the queue of %d", ErrQueueFull, len(s)/a.cfg.Channels, a.maxN)
	}
	if a.q.free() < len(s) {
		if !mayWait || a.cfg.Overflow == Reject {
			a.stats.Rejected++
			return ErrQueueFull
		}
		a.stats.Blocked++
		stop := context.AfterFunc(ctx, func() {
			a.mu.Lock()
			a.room.Broadcast()
			a.mu.Unlock()
		})
		defer stop()
		for a.q.free() < len(s) {
			if err := ctx.Err(); err != nil {
				return err
			}
			a.room.Wait()
			if err := a.writable(u); err != nil {
				return err
			}
		}
	}
	a.q.push(s)
	u.queued += int64(len(s) / a.cfg.Channels)
	a.data.Broadcast()
	return nil
}

func (a *Audio) writable(u *Utterance) error {
	if a.utt != u || u.State() >= Finished {
		return ErrInterrupted
	}
	if u.ended {
		return ErrEnded
	}
	return nil
}

// End marks that no more PCM will come for u: once its queue drains it finishes.
func (a *Audio) End(u *Utterance) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u.ended = true
	a.data.Broadcast()
}

// SetWaitForData sets AudioConfig.WaitForData.
func (a *Audio) SetWaitForData(w bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfg.WaitForData = w
}

// Unblock makes a Fill that waits for data (WaitForData) return at once, and Fill no
// longer wait, until Rearm: the element is stopping and its push loop must end.
func (a *Audio) Unblock() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.data.Broadcast()
}

// Rearm undoes Unblock: Fill waits for data again under WaitForData. The element
// calls it when it starts (again).
func (a *Audio) Rearm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = false
}

// Interrupt cuts the playing utterance: everything not yet emitted is dropped but for a
// fade of Fade, emitted in the next chunk. It returns the position the listener will
// have heard (fade included) and false when nothing was playing.
func (a *Audio) Interrupt() (Position, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.utt
	if u == nil {
		return Position{}, false
	}
	a.stats.Interrupts++
	keep := 0
	if u.State() == Playing {
		keep = min(a.fadeN, a.q.len()/a.cfg.Channels)
	}
	a.q.truncate(keep * a.cfg.Channels)
	a.cutLeft = keep
	n := u.played.Load() + int64(keep)
	u.finish(Interrupted, a.ChunkPTS(a.next)+samplesToDur(int64(keep), a.cfg.Rate))
	a.utt = nil
	a.room.Broadcast()
	a.data.Broadcast()
	return Position{Samples: n, Played: samplesToDur(n, a.cfg.Rate)}, true
}

// Current returns the utterance being played or waiting for its anchor, or nil.
func (a *Audio) Current() *Utterance {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.utt
}

// Stats returns the counters.
func (a *Audio) Stats() AudioStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.stats
	st.QueuedSamples = int64(a.q.len() / a.cfg.Channels)
	return st
}

// Fill writes the next chunk into dst (ChunkSamples·Channels long) and returns its PTS.
// It does not allocate.
func (a *Audio) Fill(dst []int16) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(dst)
	pts := a.ChunkPTS(a.next)
	a.next++
	a.stats.Chunks++
	ch := a.cfg.Channels

	if a.cutLeft > 0 { // the fade of an interrupted utterance
		n := a.q.pop(dst[:a.cutLeft*ch])
		pcm.FadeOut(dst[:n], ch)
		a.cutLeft = 0
		a.q.truncate(0)
		return pts
	}
	u := a.utt
	if u == nil || pts < u.T0()+u.Delay() {
		a.stats.SilentChunks++
		return pts
	}
	if u.State() == Queued {
		u.state.Store(int32(Playing))
	}
	for a.cfg.WaitForData && !a.closed && !u.ended && a.utt == u && a.q.len() < a.chunkN*ch {
		a.data.Wait()
	}
	if a.utt != u { // interrupted while waiting: its fade is all that is left
		n := a.q.pop(dst[:a.cutLeft*ch])
		pcm.FadeOut(dst[:n], ch)
		a.cutLeft = 0
		a.q.truncate(0)
		return pts
	}
	n := a.q.pop(dst) / ch
	u.played.Add(int64(n))
	if n > 0 {
		a.room.Broadcast()
	}
	switch {
	case u.ended && a.q.len() == 0:
		// Finished with this chunk: say so now, so video stops at the same point.
		u.finish(Finished, pts+samplesToDur(int64(n), a.cfg.Rate))
		a.utt = nil
		a.stats.UtterancesDone++
	case n < a.chunkN:
		// The producer is late: the missing part is silence and the rest of the
		// utterance plays that much later (video follows through Delay).
		a.stats.Underruns++
		u.gap.Add(int64(a.chunkN - n))
	}
	if n == 0 {
		a.stats.SilentChunks++
	}
	return pts
}
