// Package player plays utterances — a waveform and its lip-synced frames — through a
// pcmslicesrc and a singleframesrc on one timeline, and interrupts them (barge-in).
// Both streams are anchored at one running time T0 and timed from sample counts and
// frame indices, never from the clock at push time (the aiortc streamer avhost
// replaced ran an audio task and a video task that each read the clock, so the two
// drifted apart).
//
// A Player is the one route into its pair of sources: whatever begins, feeds, ends or
// cuts an utterance goes through it, never into an element or a timeline directly. The
// route is the player, not the timelines, because an utterance spans both elements
// (Begin and Interrupt must reach audio and video together) and a frame needs the
// video element's buffer pool on its way in, which its timeline does not hold. The
// route also states the back-pressure rule in its method names rather than leaving it
// to the elements' overflow property: OfferAudio and OfferFrame never wait (a full
// queue refuses with timeline.ErrQueueFull, nothing queued, counted in Rejected),
// whereas Play's feeding writes as the overflow property says (block: it waits for
// room, so an utterance of any length plays with bounded memory).
package player

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/timeline"
)

// Player drives one audio and one video source.
type Player struct {
	Audio *pcmslicesrc.Src
	Video *singleframesrc.Src
	// Lead is how far ahead of the stream's next chunk a new utterance starts, so its
	// first chunk and frame are queued before they are due. Defaults to 40 ms.
	Lead time.Duration
}

// Utterance is a whole waveform and its frames.
type Utterance struct {
	PCM    []byte     // raw PCM in Format
	Floats []float32  // or float samples (interleaved); used when PCM is nil
	Format pcm.Format // of PCM / Floats
	Frames [][]byte   // frames at the video source's rate; frame i at T0 + i/fps
	// At is the anchor in running time; zero picks the next grid point after Lead.
	At time.Duration
}

// Playback is a running utterance.
type Playback struct {
	*timeline.Utterance
	feedErr chan error
}

// Wait blocks until the utterance finished or was interrupted, and returns the first
// error the feeding met (nil when everything was queued).
func (p *Playback) Wait(ctx context.Context) error {
	select {
	case <-p.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-p.feedErr
}

// Anchor returns the next running time, on the audio grid, at which an utterance can
// start: at least Lead after the later of the audio's next chunk and the clock.
func (p *Player) Anchor() (time.Duration, error) {
	a, err := p.Audio.Timeline()
	if err != nil {
		return 0, err
	}
	lead := p.Lead
	if lead == 0 {
		lead = 40 * time.Millisecond
	}
	if rt, ok := p.Audio.RunningTime(); ok && p.Audio.Live() {
		if next := a.NextPTS(); rt > next {
			lead += rt - next
		}
	}
	return a.Anchor(lead), nil
}

// Begin starts an utterance whose audio (in format in) and frames come later, through
// the returned utterance's Write/QueueFrame; frames is their count, -1 if unknown.
func (p *Player) Begin(at time.Duration, in pcm.Format, frames int64) (*timeline.Utterance, error) {
	a, err := p.Audio.Timeline()
	if err != nil {
		return nil, err
	}
	if at == 0 {
		if at, err = p.Anchor(); err != nil {
			return nil, err
		}
	}
	u, err := a.Begin(at, in)
	if err != nil {
		return nil, err
	}
	if err := p.Video.Begin(u, frames); err != nil {
		a.Interrupt()
		return nil, err
	}
	return u, nil
}

// Play starts u and feeds it in the background (blocking on full queues, so an
// utterance of any length plays with bounded memory). Frames are checked up front: a
// wrong-sized frame fails Play before anything is queued.
func (p *Player) Play(ctx context.Context, utt Utterance) (*Playback, error) {
	want := p.Video.FrameSize()
	for i, f := range utt.Frames {
		if len(f) != want {
			return nil, fmt.Errorf("frame %d: %w: got %d bytes, want %d", i, singleframesrc.ErrFrameSize, len(f), want)
		}
	}
	if utt.PCM != nil && len(utt.PCM)%utt.Format.FrameBytes() != 0 {
		return nil, pcm.ErrPartialSample
	}
	u, err := p.Begin(utt.At, utt.Format, int64(len(utt.Frames)))
	if err != nil {
		return nil, err
	}
	a, _ := p.Audio.Timeline()
	pb := &Playback{Utterance: u, feedErr: make(chan error, 1)}
	ctx, cancel := context.WithCancel(ctx)
	go func() { // ends when everything is queued, or at interrupt / ctx
		<-u.Done()
		cancel()
	}()
	go func() {
		pb.feedErr <- p.feed(ctx, a, u, utt)
	}()
	return pb, nil
}

func (p *Player) feed(ctx context.Context, a *timeline.Audio, u *timeline.Utterance, utt Utterance) error {
	defer a.End(u)
	// Interleave audio and frames by time so neither queue waits on the other.
	const slice = 100 * time.Millisecond
	fb := utt.Format.FrameBytes()
	step := int(int64(slice) * int64(utt.Format.Rate) / int64(time.Second))
	total := len(utt.Floats) / utt.Format.Channels
	if utt.PCM != nil {
		total = len(utt.PCM) / fb
	}
	fi := int64(0)
	for pos := 0; pos < total; pos += step {
		end := min(pos+step, total)
		var err error
		if utt.PCM != nil {
			err = a.Write(ctx, u, utt.PCM[pos*fb:end*fb])
		} else {
			ch := utt.Format.Channels
			err = a.WriteFloats(ctx, u, utt.Floats[pos*ch:end*ch])
		}
		if err != nil {
			return ignoreCut(err)
		}
		// Frames up to the audio time queued so far.
		upto := time.Duration(int64(end) * int64(time.Second) / int64(utt.Format.Rate))
		for ; fi < int64(len(utt.Frames)) && p.framePTS(fi) < upto+slice; fi++ {
			if err := p.Video.QueueFrame(ctx, u, fi, utt.Frames[fi]); err != nil && !errors.Is(err, timeline.ErrLate) {
				return ignoreCut(err)
			}
		}
	}
	return nil
}

func (p *Player) framePTS(i int64) time.Duration {
	v, err := p.Video.Timeline()
	if err != nil {
		return 0
	}
	return v.FramePTS(i)
}

// ignoreCut treats the end of an utterance by interrupt as a normal end of feeding.
func ignoreCut(err error) error {
	if errors.Is(err, timeline.ErrInterrupted) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Interrupt cuts the playing utterance in both streams (a barge-in) and returns what
// was emitted of it, fade included; false when nothing was playing.
func (p *Player) Interrupt() (timeline.Position, bool) {
	a, err := p.Audio.Timeline()
	if err != nil {
		return timeline.Position{}, false
	}
	pos, ok := a.Interrupt()
	p.Video.Interrupt()
	return pos, ok
}

// OfferAudio queues a PCM slice of u, in u's format, and never waits, whatever the
// pcmslicesrc's overflow property says: with no room for all of it, nothing is queued
// and timeline.ErrQueueFull is returned.
func (p *Player) OfferAudio(u *timeline.Utterance, raw []byte) error {
	a, err := p.Audio.Timeline()
	if err != nil {
		return err
	}
	return a.Offer(u, raw)
}

// OfferFrame queues frame i of u (raw, in the video source's size and format), to be
// shown at u.T0 + i/fps, and never waits, whatever the singleframesrc's overflow
// property says: a full queue refuses it with timeline.ErrQueueFull.
func (p *Player) OfferFrame(u *timeline.Utterance, i int64, data []byte) error {
	return p.Video.OfferFrame(u, i, data)
}

// SetIdle replaces the frame shown between utterances.
func (p *Player) SetIdle(data []byte) error { return p.Video.SetIdle(data) }

// End says u has no more audio: it finishes once what is queued has played.
func (p *Player) End(u *timeline.Utterance) error {
	a, err := p.Audio.Timeline()
	if err != nil {
		return err
	}
	a.End(u)
	return nil
}

// Stats are the counters of both sources.
type Stats struct {
	Audio timeline.AudioStats
	Video timeline.VideoStats
}

// Stats returns the counters of both sources.
func (p *Player) Stats() Stats {
	return Stats{Audio: p.Audio.Stats(), Video: p.Video.Stats()}
}
