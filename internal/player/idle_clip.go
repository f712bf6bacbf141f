package player

import "github.com/avhost/avhost/elements/singleframesrc"

// NewIdleClip returns an empty idle clip of n frames for the video source, to be
// filled (IdleClip.Set) as its frames arrive and then shown with ShowIdleClip.
func (p *Player) NewIdleClip(n int) (*singleframesrc.IdleClip, error) {
	return p.Video.NewIdleClip(n)
}

// ShowIdleClip makes a complete clip the loop shown between utterances: an utterance
// pauses it, and after the utterance's end or an interrupt it resumes with the frame
// after the last one shown (timeline/idle_clip.go says why).
func (p *Player) ShowIdleClip(c *singleframesrc.IdleClip) error { return p.Video.ShowIdleClip(c) }

// SetIdleClip copies frames in (raw, in the video source's size and format) and shows
// them as the idle loop.
func (p *Player) SetIdleClip(frames [][]byte) error { return p.Video.SetIdleClip(frames) }
