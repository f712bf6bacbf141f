package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/avhost/avhost/elements/singleframesrc"
)

// Idle clips: N frames a session loops between utterances instead of a still frame,
// uploaded once (docs/ingest.md, Idle clip). The bounds are checked before any work:
// the frame count against MaxIdleClipFrames and 10 s of frames, the clip's bytes (as
// held: raw, JPEG/PNG decoded to BGR) against the session's MaxQueueBytes and against
// the host's memory budget, where they are reserved for as long as the clip is
// uploading or shown. Each frame is decoded (header first) and copied into the clip as
// it arrives, so an upload holds one frame's worth of decode at a time.
//
// The budget hook takes Manager.mu, which comes before Session.mu: it is never called
// with Session.mu held.

// MaxIdleClipFrames caps an idle clip's frames, whatever the frame rate.
const MaxIdleClipFrames = 250

// maxIdleClipTime caps an idle clip's length: at 25 fps MaxIdleClipFrames is 10 s.
const maxIdleClipTime = 10 * time.Second

// errNoIdleClip is returned for an idle clip frame with no upload begun.
var errNoIdleClip = errors.New("session: no idle clip upload begun")

// MaxIdleClip is the most frames an idle clip of this session may have.
func (s *Session) MaxIdleClip() int {
	f := s.cfg.p.FPS
	return min(MaxIdleClipFrames, int(int64(maxIdleClipTime/time.Second)*int64(f.Num)/int64(f.Den)))
}

// idleClip is the session's idle clip state, under Session.mu.
type idleClip struct {
	pending *singleframesrc.IdleClip // being uploaded
	shown   int                      // bytes of the clip shown, reserved in the budget
	// reserve takes delta bytes from the host's memory budget (negative: gives them
	// back), failing with ErrMemoryBudget; nil for a session outside a Manager.
	reserve func(delta int64) error
}

// BeginIdleClip starts the upload of an idle clip of n frames, dropping one still
// uploading (also when it refuses n). The frames come through IdleClipFrame; the clip is shown when the last
// one is in.
func (s *Session) BeginIdleClip(n int) error {
	// The upload this one replaces goes first, refused or not: its bytes must not
	// count twice, and after a refusal no upload is in progress.
	s.mu.Lock()
	old := s.clip.pending
	s.clip.pending = nil
	s.mu.Unlock()
	s.dropClip(old)
	if n < 1 || n > s.MaxIdleClip() {
		return withKind(ErrLimit, fmt.Errorf("idle clip of %d frames (this session takes 1-%d)", n, s.MaxIdleClip()))
	}
	bytes := int64(n) * int64(s.cfg.p.frameBytes())
	if bytes > s.cfg.MaxQueueBytes {
		return withKind(ErrLimit, fmt.Errorf("idle clip of %d frames holds %d bytes, over the session's max_queue_bytes %d", n, bytes, s.cfg.MaxQueueBytes))
	}
	if err := s.reserve(bytes); err != nil {
		return err
	}
	c, err := s.pl.NewIdleClip(n)
	if err != nil {
		s.reserve(-bytes)
		return classify(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Release()
		s.reserve(-bytes)
		return ErrClosed
	}
	old = s.clip.pending // a concurrent BeginIdleClip's: the last one wins
	s.clip.pending = c
	s.mu.Unlock()
	s.dropClip(old)
	return nil
}

// IdleClipFrame sets frame i of the idle clip being uploaded (raw in the session's
// format, or JPEG/PNG). When it was the last frame missing, the clip is shown from
// the next idle frame on and shown is its frame count; otherwise shown is 0.
func (s *Session) IdleClipFrame(i int, data []byte) (shown int, err error) {
	s.mu.Lock()
	c, n := s.clip.pending, 0
	if c != nil {
		n = c.Len() // under the lock: showing the clip empties it
	}
	s.mu.Unlock()
	if c == nil {
		return 0, errNoIdleClip
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("idle clip frame %d of %d", i, n)
	}
	if data, err = s.decode(data); err != nil {
		return 0, err
	}
	s.mu.Lock()
	if s.closed || s.clip.pending != c { // closed, or a new upload began meanwhile
		s.mu.Unlock()
		return 0, errNoIdleClip
	}
	if err := c.Set(i, data); err != nil {
		s.mu.Unlock()
		return 0, classify(err)
	}
	complete := c.Complete()
	s.mu.Unlock()
	if !complete {
		return 0, nil
	}
	if err := s.showPendingClip(c); err != nil {
		return 0, err
	}
	return n, nil
}

// showPendingClip shows the complete upload c if it is still the one in progress.
func (s *Session) showPendingClip(c *singleframesrc.IdleClip) error {
	s.mu.Lock()
	if s.closed || s.clip.pending != c {
		s.mu.Unlock()
		return errNoIdleClip
	}
	s.clip.pending = nil
	bytes := int(c.Bytes()) // before ShowIdleClip empties c
	if err := s.pl.ShowIdleClip(c); err != nil {
		s.mu.Unlock()
		s.dropClip(c)
		return classify(err)
	}
	old := s.clip.shown
	s.clip.shown = bytes
	s.mu.Unlock()
	s.reserve(-int64(old)) // the clip replaced gives its bytes back
	return nil
}

// SetIdleClip uploads a whole clip at once: BeginIdleClip and every frame. A frame
// that is the same slice as an earlier one shares its buffer (the demo's loop repeats
// a few pictures); the budget still counts every frame.
func (s *Session) SetIdleClip(frames [][]byte) error {
	if err := s.BeginIdleClip(len(frames)); err != nil {
		return err
	}
	for i, f := range frames {
		var err error
		if j := sameSlice(frames, i); j >= 0 && j != i {
			err = s.shareClipFrame(i, j)
		} else {
			_, err = s.IdleClipFrame(i, f)
		}
		if err != nil {
			s.mu.Lock()
			c := s.clip.pending
			s.clip.pending = nil
			s.mu.Unlock()
			s.dropClip(c)
			return err
		}
	}
	return nil
}

// sameSlice is the index of the first frame that is the same slice as frames[i].
func sameSlice(frames [][]byte, i int) int {
	f := frames[i]
	for j := 0; j < i && len(f) > 0; j++ {
		if g := frames[j]; len(g) == len(f) && &g[0] == &f[0] {
			return j
		}
	}
	return -1
}

// shareClipFrame makes frame i of the upload frame j's buffer, and shows the clip if
// that completed it.
func (s *Session) shareClipFrame(i, j int) error {
	s.mu.Lock()
	c := s.clip.pending
	if c == nil || s.closed {
		s.mu.Unlock()
		return errNoIdleClip
	}
	err := c.Share(i, j)
	complete := c.Complete()
	s.mu.Unlock()
	if err != nil || !complete {
		return err
	}
	return s.showPendingClip(c)
}

// clipReplaced gives back the bytes of the clip shown: a still idle frame replaced it.
func (s *Session) clipReplaced() {
	s.mu.Lock()
	old := s.clip.shown
	s.clip.shown = 0
	s.mu.Unlock()
	s.reserve(-int64(old))
}

// dropClip releases an upload taken out of the session and its reservation; nil-safe.
// Not under Session.mu (the budget takes Manager.mu, which comes first).
func (s *Session) dropClip(c *singleframesrc.IdleClip) {
	if c != nil {
		s.reserve(-c.Bytes())
		c.Release()
	}
}

// releasePendingClipLocked frees an upload in progress at Close. The reservation
// is not touched: the Manager gives back the session's whole reservation.
func (s *Session) releasePendingClipLocked() {
	if c := s.clip.pending; c != nil {
		c.Release()
		s.clip.pending = nil
	}
}

// reserve moves bytes between the host's budget and the session (budget hook).
func (s *Session) reserve(delta int64) error {
	if s.clip.reserve == nil || delta == 0 {
		return nil
	}
	return s.clip.reserve(delta)
}

// reserveFor returns the budget hook of session id, created with account acct: it
// moves delta bytes between the host's budget and the session's reservation, refusing
// growth past the budget. The session's whole reservation goes back when it is
// released; from then on the hook moves nothing, even once a new session holds id.
func (m *Manager) reserveFor(id string, acct *byte) func(int64) error {
	return func(delta int64) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.account[id] != acct {
			return ErrClosed
		}
		if delta > 0 && m.MemoryBudget > 0 && m.reserved+delta > m.MemoryBudget {
			return fmt.Errorf("%w: an idle clip of %d MiB; sessions hold %d of the host's %d MiB",
				ErrMemoryBudget, delta>>20, m.reserved>>20, m.MemoryBudget>>20)
		}
		m.cost[id] += delta
		m.reserved += delta
		return nil
	}
}
