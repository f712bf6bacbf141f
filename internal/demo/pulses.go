package demo

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/timeline"
)

// PulseUtterance is the A/V sync test pattern: once a second a white frame and a
// 1 kHz tone burst start at the same timeline position (80 ms long), black and
// silence between.
func PulseUtterance(cfg session.Config, seconds int) (audio []byte, frames [][]byte) {
	audio, frames, _ = PulsePattern(cfg, seconds, framesPerSecond(cfg))
	return audio, frames
}

// PulsePattern is the pattern with one pulse every periodFrames frames, pulses
// times; periodSamples is the audio's period. A period that is not a whole number
// of a 60 Hz display's refreshes (26 frames at 25 fps: 62.4) puts each flash at
// another phase of the display's refresh, so a mean over a few pulses measures the
// offset, not where one phase of the display happened to fall (one second is
// exactly 60 refreshes: every flash of a 1 s pattern lands at the same phase, and
// a phase's median can be up to a refresh, 16.7 ms, off).
func PulsePattern(cfg session.Config, pulses, periodFrames int) (audio []byte, frames [][]byte, periodSamples int) {
	perSec := framesPerSecond(cfg)
	periodSamples = periodFrames * cfg.Rate / perSec
	n := pulses * periodSamples
	audio = make([]byte, 2*n)
	burst := cfg.Rate * 80 / 1000
	for i := 0; i < n; i++ {
		if j := i % periodSamples; j < burst {
			v := 0.5 * math.Sin(2*math.Pi*1000*float64(j)/float64(cfg.Rate))
			binary.LittleEndian.PutUint16(audio[2*i:], uint16(int16(v*32767)))
		}
	}
	stride := (cfg.Width*3 + 3) &^ 3
	white, black := make([]byte, stride*cfg.Height), make([]byte, stride*cfg.Height)
	for i := range white {
		white[i] = 255
	}
	for i := 0; i < pulses*periodFrames; i++ {
		if i%periodFrames < max(1, perSec*80/1000) {
			frames = append(frames, white)
		} else {
			frames = append(frames, black)
		}
	}
	return audio, frames, periodSamples
}

// framesPerSecond is cfg's whole frame rate (the pattern's rates are whole).
func framesPerSecond(cfg session.Config) int {
	var fpsN, fpsD int
	if n, _ := fmt.Sscanf(cfg.FPS, "%d/%d", &fpsN, &fpsD); n == 1 {
		fpsD = 1
	}
	return fpsN / fpsD
}

// PlayPulses plays the pulse pattern on s as one utterance, fed a second ahead of
// real time; it returns the utterance (for its T0) once begun, and feeds in the
// background until ctx ends or the pattern is queued.
func PlayPulses(ctx context.Context, s *session.Session, id uint32, seconds int) (*timeline.Utterance, error) {
	return PlayPulsesEvery(ctx, s, id, seconds, framesPerSecond(s.Config()))
}

// PlayPulsesEvery is PlayPulses with a pulse every periodFrames frames
// (PulsePattern), fed a period ahead of real time.
func PlayPulsesEvery(ctx context.Context, s *session.Session, id uint32, pulses, periodFrames int) (*timeline.Utterance, error) {
	cfg := s.Config()
	audio, frames, ps := PulsePattern(cfg, pulses, periodFrames)
	if err := s.Begin(id, pcm.Format{Type: pcm.S16, Rate: cfg.Rate, Channels: 1}, int64(len(frames))); err != nil {
		return nil, err
	}
	u := s.Current()
	period := time.Duration(ps) * time.Second / time.Duration(cfg.Rate)
	go func() {
		start := time.Now()
		for k := 0; k < pulses; k++ {
			if wait := time.Duration(k-1)*period - time.Since(start); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			if s.Audio(id, audio[2*k*ps:2*(k+1)*ps]) != nil {
				return
			}
			for i := k * periodFrames; i < (k+1)*periodFrames; i++ {
				if s.Frame(id, int64(i), frames[i]) != nil {
					return
				}
			}
		}
		s.End(id)
	}()
	return u, nil
}
