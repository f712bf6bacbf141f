package pcm

import (
	"encoding/binary"
	"math"
)

// Stats counts what conversion had to correct.
type Stats struct {
	Clipped uint64 // float samples outside [-1, 1], clipped
}

// FloatToS16 converts one float sample, clipping to the s16 range. It reports whether
// the sample was clipped.
func FloatToS16(x float32) (int16, bool) {
	switch {
	case x >= 1:
		return math.MaxInt16, x > 1
	case x <= -1:
		return math.MinInt16 + 1, x < -1
	}
	// Symmetric scale so +1 and -1 map to ±32767, rounded to nearest.
	return int16(math.Round(float64(x) * 32767)), false
}

// Decode converts raw bytes in format in to interleaved s16 with in.Channels channels,
// appending to dst. Float slices holding NaN or Inf are rejected whole.
func Decode(dst []int16, raw []byte, in Format, st *Stats) ([]int16, error) {
	if len(raw)%in.FrameBytes() != 0 {
		return dst, ErrPartialSample
	}
	if in.Type == S16 {
		for i := 0; i+1 < len(raw); i += 2 {
			dst = append(dst, int16(binary.LittleEndian.Uint16(raw[i:])))
		}
		return dst, nil
	}
	for i := 0; i+3 < len(raw); i += 4 {
		f := math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return dst, ErrNonFinite
		}
	}
	for i := 0; i+3 < len(raw); i += 4 {
		s, clipped := FloatToS16(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
		if clipped && st != nil {
			st.Clipped++
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// DecodeFloats is Decode for callers that already hold float32 samples.
func DecodeFloats(dst []int16, in []float32, st *Stats) ([]int16, error) {
	for _, f := range in {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return dst, ErrNonFinite
		}
	}
	for _, f := range in {
		s, clipped := FloatToS16(f)
		if clipped && st != nil {
			st.Clipped++
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// Remix converts interleaved s16 from inCh to outCh channels (1 or 2), in place when
// possible, returning the result.
func Remix(s []int16, inCh, outCh int) []int16 {
	switch {
	case inCh == outCh:
		return s
	case inCh == 2 && outCh == 1:
		n := len(s) / 2
		for i := 0; i < n; i++ {
			s[i] = int16((int32(s[2*i]) + int32(s[2*i+1])) / 2)
		}
		return s[:n]
	default: // 1 -> 2
		out := make([]int16, 2*len(s))
		for i, v := range s {
			out[2*i], out[2*i+1] = v, v
		}
		return out
	}
}
