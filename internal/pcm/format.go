// Package pcm converts caller PCM (s16 or float32, any rate, mono or stereo) into the
// interleaved s16 that avhost's audio source emits: float is clipped, never wrapped
// (a plain `(block * 32767).astype(int16)`, as the aiortc streamer avhost replaced
// did, wraps for |x| > 1), and the rate is
// converted by linear interpolation.
package pcm

import (
	"fmt"
	"strings"
)

// SampleType is how one sample is stored.
type SampleType int

const (
	// S16 is signed 16-bit little endian.
	S16 SampleType = iota
	// F32 is IEEE float32 little endian, nominal range [-1, 1].
	F32
)

// String returns the GStreamer name of the sample type.
func (t SampleType) String() string {
	if t == F32 {
		return "F32LE"
	}
	return "S16LE"
}

// ParseSampleType accepts "s16", "s16le", "f32", "f32le", "float32" (any case).
func ParseSampleType(s string) (SampleType, error) {
	switch strings.ToLower(s) {
	case "s16", "s16le", "int16":
		return S16, nil
	case "f32", "f32le", "float32", "float":
		return F32, nil
	}
	return 0, fmt.Errorf("%w: sample type %q (want s16 or f32)", ErrFormat, s)
}

// Format describes PCM as a caller hands it over.
type Format struct {
	Type     SampleType
	Rate     int // samples per second per channel
	Channels int // 1 or 2
}

// Validate reports whether avhost can convert f.
func (f Format) Validate() error {
	if f.Rate < 4000 || f.Rate > 192000 {
		return fmt.Errorf("%w: rate %d (want 4000..192000)", ErrFormat, f.Rate)
	}
	if f.Channels != 1 && f.Channels != 2 {
		return fmt.Errorf("%w: %d channels (want 1 or 2)", ErrFormat, f.Channels)
	}
	return nil
}

// FrameBytes is the size of one sample frame (one sample of every channel).
func (f Format) FrameBytes() int {
	if f.Type == F32 {
		return 4 * f.Channels
	}
	return 2 * f.Channels
}
