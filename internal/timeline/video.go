package timeline

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// VideoConfig configures a Video timeline.
type VideoConfig[F any] struct {
	FpsN, FpsD int      // frame rate; defaults to 25/1
	MaxQueue   int      // queued utterance frames; defaults to 64
	Overflow   Overflow // defaults to Block
	// Release is called once for every frame the timeline no longer holds; it may be nil.
	Release func(F)
	// WaitForFrames makes Next wait for a missing utterance frame instead of holding
	// the last one: right for non-live rendering.
	WaitForFrames bool
	// Ref returns a new reference to a frame: Next hands the caller its own, taken under
	// the lock, so a frame replaced meanwhile stays valid. Defaults to the identity.
	Ref func(F) F
}

// VideoStats counts what happened on a Video timeline.
type VideoStats struct {
	Frames     uint64 // frames emitted
	Idle       uint64 // of which the idle frame
	Held       uint64 // utterance frames not there in time: the last one was repeated
	Late       uint64 // frames that arrived after their time, dropped
	Rejected   uint64 // frames refused by the reject policy
	QueuedNow  int
	Utterances uint64
}

// Frame is what Next hands the element: the frame to show and when.
type Frame[F any] struct {
	PTS, Duration time.Duration
	Data          F
	Utterance     bool // from an utterance, not the idle frame
	Index         int64
	// Loop is the idle clip's frame shown (0 for a still idle frame); -1 for an
	// utterance frame.
	Loop int
}

type videoUtt[F any] struct {
	u      *Utterance
	frames map[int64]F
	limit  int64 // frames the producer said there are; -1 unknown
	next   int64 // next utterance frame index to emit
	last   F
	hasLst bool
}

// Video schedules frames: the idle frame repeats at the frame rate on a grid
// anchor + i/fps; an utterance re-anchors the grid at its T0 so that its frame i is at
// exactly T0 + i/fps. A frame not there when due holds the previous one; a frame that
// comes after its time is dropped, so a slow frame producer never holds anything up.
//
// The idle picture may be a clip (idle_clip.go): its frames loop on the same grid,
// one per frame time, and an utterance pauses the loop where it is.
type Video[F any] struct {
	cfg    VideoConfig[F]
	mu     sync.Mutex
	room   *sync.Cond
	idle   []F   // the idle clip: one frame for a still picture, never empty
	loop   int64 // idle frames emitted since the clip was set: the loop's phase
	anchor time.Duration
	idx    int64
	utt    *videoUtt[F]
	stats  VideoStats
	frame  *sync.Cond // Next waits on it under WaitForFrames
	closed bool
}

// NewVideo returns a Video timeline showing idle until told otherwise.
func NewVideo[F any](cfg VideoConfig[F], idle F) (*Video[F], error) {
	if cfg.FpsN == 0 {
		cfg.FpsN, cfg.FpsD = 25, 1
	}
	if cfg.FpsD == 0 {
		cfg.FpsD = 1
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 64
	}
	if cfg.FpsN <= 0 || cfg.FpsD <= 0 || cfg.FpsN/cfg.FpsD > 240 {
		return nil, fmt.Errorf("%w: frame rate %d/%d", ErrConfig, cfg.FpsN, cfg.FpsD)
	}
	if cfg.Release == nil {
		cfg.Release = func(F) {}
	}
	if cfg.Ref == nil {
		cfg.Ref = func(f F) F { return f }
	}
	v := &Video[F]{cfg: cfg, idle: []F{idle}}
	v.room = sync.NewCond(&v.mu)
	v.frame = sync.NewCond(&v.mu)
	return v, nil
}

// FramePTS is the offset of frame i from an anchor.
func (v *Video[F]) FramePTS(i int64) time.Duration { return FramePTS(i, v.cfg.FpsN, v.cfg.FpsD) }

// NextPTS is the running time of the next frame to be emitted.
func (v *Video[F]) NextPTS() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.anchor + v.FramePTS(v.idx)
}

// SeekTo moves the grid so the next frame is the first at or after t (live start).
func (v *Video[F]) SeekTo(t time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if i := FramesBefore(t-v.anchor, v.cfg.FpsN, v.cfg.FpsD); i > v.idx {
		v.idx = i
	}
}

// Reset returns to the idle frame with the grid at running time 0, for a restart.
func (v *Video[F]) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropLocked()
	v.anchor, v.idx = 0, 0
}

// Close releases every frame the timeline holds, the idle one included; the timeline
// must not be used afterwards.
func (v *Video[F]) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropLocked()
	for _, f := range v.idle {
		v.cfg.Release(f)
	}
	v.idle = nil
}

// SetIdle replaces the picture shown outside utterances with a still frame f.
func (v *Video[F]) SetIdle(f F) { v.SetIdleClip([]F{f}) }

// Begin starts showing u's frames at u.T0() + i/fps. frames is how many frames the
// utterance has, or -1 when not known yet. A previous utterance's frames are dropped.
func (v *Video[F]) Begin(u *Utterance, frames int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropLocked()
	v.utt = &videoUtt[F]{u: u, frames: map[int64]F{}, limit: frames}
	v.stats.Utterances++
}

// Queue hands over frame i of utterance u. A frame whose time has passed is released
// and ErrLate returned; under the Block policy a full queue waits for room.
func (v *Video[F]) Queue(ctx context.Context, u *Utterance, i int64, f F) error {
	return v.queue(ctx, u, i, f, true)
}

// Offer is Queue that never waits, whatever VideoConfig.Overflow says: a full queue
// releases f, counts it in Rejected and returns ErrQueueFull.
func (v *Video[F]) Offer(u *Utterance, i int64, f F) error {
	return v.queue(context.Background(), u, i, f, false)
}

// queue adds frame i of u; mayWait lets a full queue wait under the Block policy.
func (v *Video[F]) queue(ctx context.Context, u *Utterance, i int64, f F, mayWait bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	for {
		vu := v.utt
		switch {
		case vu == nil || vu.u != u || u.State() >= Finished:
			v.cfg.Release(f)
			return ErrInterrupted
		case i < vu.next:
			v.stats.Late++
			v.cfg.Release(f)
			return fmt.Errorf("%w: frame %d, next due is %d", ErrLate, i, vu.next)
		case vu.limit >= 0 && i >= vu.limit:
			v.cfg.Release(f)
			return fmt.Errorf("%w: frame %d beyond the %d announced", ErrConfig, i, vu.limit)
		}
		if len(vu.frames) < v.cfg.MaxQueue {
			if old, ok := vu.frames[i]; ok {
				v.cfg.Release(old)
			}
			vu.frames[i] = f
			v.frame.Broadcast()
			return nil
		}
		if !mayWait || v.cfg.Overflow == Reject {
			v.stats.Rejected++
			v.cfg.Release(f)
			return ErrQueueFull
		}
		if err := ctx.Err(); err != nil {
			v.cfg.Release(f)
			return err
		}
		stop := context.AfterFunc(ctx, func() {
			v.mu.Lock()
			v.room.Broadcast()
			v.mu.Unlock()
		})
		v.room.Wait()
		stop()
	}
}

// Interrupt returns to the idle frame from the next frame on and drops queued frames.
func (v *Video[F]) Interrupt() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropLocked()
}

func (v *Video[F]) dropLocked() {
	if vu := v.utt; vu != nil {
		for _, f := range vu.frames {
			v.cfg.Release(f)
		}
		if vu.hasLst {
			v.cfg.Release(vu.last)
		}
		v.utt = nil
		v.room.Broadcast()
		v.frame.Broadcast()
	}
}

// SetWaitForFrames sets VideoConfig.WaitForFrames.
func (v *Video[F]) SetWaitForFrames(w bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cfg.WaitForFrames = w
}

// Unblock makes a Next that waits for a frame (WaitForFrames) return at once, and Next
// no longer wait, until Rearm: the element is stopping and its push loop must end.
func (v *Video[F]) Unblock() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	v.frame.Broadcast()
}

// Rearm undoes Unblock: Next waits for frames again under WaitForFrames. The element
// calls it when it starts (again).
func (v *Video[F]) Rearm() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = false
}

// Stats returns the counters.
func (v *Video[F]) Stats() VideoStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.stats
	if v.utt != nil {
		st.QueuedNow = len(v.utt.frames)
	}
	return st
}

// Next returns the next frame to emit. Data is a reference of the caller's own (see
// VideoConfig.Ref), to be released after use.
func (v *Video[F]) Next() Frame[F] {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stats.Frames++
	pts := v.anchor + v.FramePTS(v.idx)
	out := Frame[F]{PTS: pts, Duration: v.anchor + v.FramePTS(v.idx+1) - pts, Index: -1, Loop: -1}

	vu := v.utt
	if vu != nil {
		if end, ok := vu.u.End(); ok && pts >= end {
			v.dropLocked() // audio is over: video stops with it
			vu = nil
		}
	}
	if vu != nil {
		start := vu.u.T0() + vu.u.Delay()
		switch {
		case pts+out.Duration <= start: // idle, before the utterance
		case pts < start && vu.next == 0: // the idle frame up to T0, then re-anchor
			out.Duration = start - pts
			v.anchor, v.idx = start, -1
		default:
			// Re-anchor on the utterance's own grid so frame i is exactly T0 + i/fps, and
			// again if an audio underrun moved the rest of the utterance later.
			if v.anchor != start {
				v.anchor = start
				v.idx = max(vu.next, FramesBefore(pts-start, v.cfg.FpsN, v.cfg.FpsD))
				vu.next = v.idx
				out.PTS = v.anchor + v.FramePTS(v.idx)
				out.Duration = v.FramePTS(v.idx+1) - v.FramePTS(v.idx)
			}
			i := vu.next
			for v.cfg.WaitForFrames && !v.closed && v.utt == vu && (vu.limit < 0 || i < vu.limit) {
				if _, ok := vu.frames[i]; ok {
					break
				}
				if _, over := vu.u.End(); over {
					break
				}
				v.frame.Wait()
			}
			if v.utt != vu { // interrupted while waiting
				out.Data, out.Loop = v.idleLocked()
				v.stats.Idle++
				v.idx++
				out.Data = v.cfg.Ref(out.Data)
				return out
			}
			vu.next++
			if f, ok := vu.frames[i]; ok {
				delete(vu.frames, i)
				v.room.Broadcast()
				if vu.hasLst {
					v.cfg.Release(vu.last)
				}
				vu.last, vu.hasLst = f, true
			} else if vu.limit < 0 || i < vu.limit {
				v.stats.Held++
			}
			if vu.hasLst {
				out.Data, out.Utterance, out.Index = vu.last, true, i
			}
			// Frames that will never be shown (a later one is showing) are dropped.
			for j, f := range vu.frames {
				if j < vu.next {
					delete(vu.frames, j)
					v.cfg.Release(f)
					v.stats.Late++
				}
			}
		}
	}
	if !out.Utterance {
		// Every frame that is not the utterance's shows the loop's next frame: before
		// T0, after the end or an interrupt, and while an utterance's first frame is
		// not there yet.
		out.Data, out.Loop = v.idleLocked()
		v.stats.Idle++
	}
	v.idx++
	out.Data = v.cfg.Ref(out.Data)
	return out
}
