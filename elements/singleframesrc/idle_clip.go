package singleframesrc

import (
	"fmt"

	"github.com/avhost/avhost/internal/gstpush"
)

// IdleClip is an idle clip being filled before it is shown (Src.ShowIdleClip): N
// frames looped between utterances. Each frame is copied once, when it is set, into
// memory of the clip's own pool; the loop then pushes buffers that share it, so a clip
// costs its N frames however long it loops. Its pool is closed once the clip is shown,
// so the memory goes back to the system as soon as the clip is replaced and the last
// buffer showing it is gone, not into the utterance pool's free list.
//
// An IdleClip is not safe for concurrent use.
type IdleClip struct {
	size   int
	pool   *gstpush.Pool
	frames []*gstpush.Held
	filled int
}

// NewIdleClip returns an empty clip of n frames of the element's size and format.
func (s *Src) NewIdleClip(n int) (*IdleClip, error) {
	if n < 1 {
		return nil, fmt.Errorf("singleframesrc: idle clip of %d frames", n)
	}
	size := s.FrameSize()
	p, err := gstpush.NewPool(size)
	if err != nil {
		return nil, err
	}
	return &IdleClip{size: size, pool: p, frames: make([]*gstpush.Held, n)}, nil
}

// Len is the clip's frame count.
func (c *IdleClip) Len() int { return len(c.frames) }

// Bytes is the memory the clip holds once complete.
func (c *IdleClip) Bytes() int64 { return int64(len(c.frames)) * int64(c.size) }

// Complete reports whether every frame has been set.
func (c *IdleClip) Complete() bool { return c.filled == len(c.frames) }

// Set copies data in as frame i; setting a frame again replaces it.
func (c *IdleClip) Set(i int, data []byte) error {
	if i < 0 || i >= len(c.frames) {
		return fmt.Errorf("singleframesrc: idle clip frame %d of %d", i, len(c.frames))
	}
	if len(data) != c.size {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrFrameSize, len(data), c.size)
	}
	if c.pool == nil {
		return ErrClipDone
	}
	h, err := c.pool.Held(data)
	if err != nil {
		return err
	}
	if old := c.frames[i]; old != nil {
		old.Release()
	} else {
		c.filled++
	}
	c.frames[i] = h
	return nil
}

// Share makes frame i the same buffer as frame j (set already): a picture the loop
// shows more than once is held once.
func (c *IdleClip) Share(i, j int) error {
	if i < 0 || i >= len(c.frames) || j < 0 || j >= len(c.frames) || c.frames[j] == nil {
		return fmt.Errorf("singleframesrc: idle clip frame %d as %d of %d", i, j, len(c.frames))
	}
	if c.pool == nil {
		return ErrClipDone
	}
	if old := c.frames[i]; old != nil {
		old.Release()
	} else {
		c.filled++
	}
	c.frames[i] = c.frames[j].Ref()
	return nil
}

// Release drops the frames of a clip not shown (or not complete); idempotent.
func (c *IdleClip) Release() {
	for i, h := range c.frames {
		h.Release()
		c.frames[i] = nil
	}
	c.filled = 0
	if c.pool != nil {
		c.pool.Free()
		c.pool = nil
	}
}

// ShowIdleClip makes a complete clip the picture between utterances, from the next
// idle frame on, starting at its first frame. The element takes the frames over; c is
// empty afterwards.
func (s *Src) ShowIdleClip(c *IdleClip) error {
	if !c.Complete() || c.pool == nil {
		return fmt.Errorf("singleframesrc: idle clip has %d of %d frames", c.filled, len(c.frames))
	}
	if c.size != s.FrameSize() {
		return fmt.Errorf("%w: idle clip of %d-byte frames", ErrFrameSize, c.size)
	}
	v, err := s.Timeline()
	if err != nil {
		return err
	}
	frames := c.frames
	c.frames, c.filled = nil, 0
	c.pool.Free() // held frames stay valid; each is unmapped when its last buffer goes
	c.pool = nil
	v.SetIdleClip(frames)
	return nil
}

// SetIdleClip copies frames in as the idle clip and shows it: ShowIdleClip for a clip
// at hand. A frame that is the same slice as an earlier one shares its buffer.
func (s *Src) SetIdleClip(frames [][]byte) error {
	c, err := s.NewIdleClip(len(frames))
	if err != nil {
		return err
	}
	for i, f := range frames {
		var err error
		if j := sameAs(frames, i); j >= 0 {
			err = c.Share(i, j)
		} else {
			err = c.Set(i, f)
		}
		if err != nil {
			c.Release()
			return err
		}
	}
	if err := s.ShowIdleClip(c); err != nil {
		c.Release()
		return err
	}
	return nil
}

// sameAs is the index of an earlier frame that is the same slice as frames[i], or -1.
func sameAs(frames [][]byte, i int) int {
	f := frames[i]
	if len(f) == 0 {
		return -1
	}
	for j := 0; j < i; j++ {
		if g := frames[j]; len(g) == len(f) && &g[0] == &f[0] {
			return j
		}
	}
	return -1
}
