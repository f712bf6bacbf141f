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
	var fpsN, fpsD int
	if n, _ := fmt.Sscanf(cfg.FPS, "%d/%d", &fpsN, &fpsD); n == 1 {
		fpsD = 1
	}
	n := seconds * cfg.Rate
	audio = make([]byte, 2*n)
	burst := cfg.Rate * 80 / 1000
	for i := 0; i < n; i++ {
		if j := i % cfg.Rate; j < burst {
			v := 0.5 * math.Sin(2*math.Pi*1000*float64(j)/float64(cfg.Rate))
			binary.LittleEndian.PutUint16(audio[2*i:], uint16(int16(v*32767)))
		}
	}
	stride := (cfg.Width*3 + 3) &^ 3
	white, black := make([]byte, stride*cfg.Height), make([]byte, stride*cfg.Height)
	for i := range white {
		white[i] = 255
	}
	perSec := fpsN / fpsD
	for i := 0; i < seconds*perSec; i++ {
		if i%perSec < max(1, perSec*80/1000) {
			frames = append(frames, white)
		} else {
			frames = append(frames, black)
		}
	}
	return audio, frames
}

// PlayPulses plays the pulse pattern on s as one utterance, fed a second ahead of
// real time; it returns the utterance (for its T0) once begun, and feeds in the
// background until ctx ends or the pattern is queued.
func PlayPulses(ctx context.Context, s *session.Session, id uint32, seconds int) (*timeline.Utterance, error) {
	cfg := s.Config()
	audio, frames := PulseUtterance(cfg, seconds)
	if err := s.Begin(id, pcm.Format{Type: pcm.S16, Rate: cfg.Rate, Channels: 1}, int64(len(frames))); err != nil {
		return nil, err
	}
	u := s.Current()
	go func() {
		perSec := len(frames) / seconds
		start := time.Now()
		for k := 0; k < seconds; k++ {
			if wait := time.Duration(k-1)*time.Second - time.Since(start); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			if s.Audio(id, audio[2*k*cfg.Rate:2*(k+1)*cfg.Rate]) != nil {
				return
			}
			for i := k * perSec; i < (k+1)*perSec; i++ {
				if s.Frame(id, int64(i), frames[i]) != nil {
					return
				}
			}
		}
		s.End(id)
	}()
	return u, nil
}
