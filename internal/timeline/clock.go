// Package timeline puts audio chunks and video frames on one timeline. Every timestamp
// is an index scaled against an anchor in pipeline running time — chunk k of an
// utterance at T0 + k·chunk, frame i at T0 + i/fps — never a clock reading, so nothing
// drifts however long the stream runs. The package is pure Go; the elements drive it.
package timeline

import (
	"math/bits"
	"time"
)

// Scale returns v*num/den rounded down, exact for the whole int64 range of v*num
// (like gst_util_uint64_scale), so frame i of a 30000/1001 stream lands on the right
// nanosecond after any number of hours.
func Scale(v, num, den uint64) uint64 {
	hi, lo := bits.Mul64(v, num)
	if hi >= den {
		return ^uint64(0) // overflow: saturate like GStreamer
	}
	q, _ := bits.Div64(hi, lo, den)
	return q
}

// FramePTS is the offset of frame i from its anchor at fpsN/fpsD frames per second.
func FramePTS(i int64, fpsN, fpsD int) time.Duration {
	return time.Duration(Scale(uint64(i), uint64(time.Second)*uint64(fpsD), uint64(fpsN)))
}

// FramesBefore is the number of frames whose offset is < d, i.e. the index of the first
// frame at or after d.
func FramesBefore(d time.Duration, fpsN, fpsD int) int64 {
	if d <= 0 {
		return 0
	}
	// ceil(d*fpsN / (1e9*fpsD))
	den := uint64(time.Second) * uint64(fpsD)
	hi, lo := bits.Mul64(uint64(d), uint64(fpsN))
	q, r := bits.Div64(hi, lo, den)
	if r != 0 {
		q++
	}
	return int64(q)
}
