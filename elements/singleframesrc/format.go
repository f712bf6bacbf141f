package singleframesrc

import (
	"fmt"
	"strconv"
	"strings"
)

// Raw pixel formats the element takes, with GStreamer's default strides (rows padded
// to 4 bytes), so a frame is exactly what downstream maps.
var formats = map[string]struct{}{"BGR": {}, "RGB": {}, "RGBA": {}, "I420": {}}

func roundUp4(n int) int { return (n + 3) &^ 3 }

// FrameBytes is the byte size of one frame of a raw format (BGR, RGB, RGBA, I420) as
// GStreamer lays it out: what the element holds per queued frame.
func FrameBytes(format string, w, h int) int { return frameSize(format, w, h) }

// frameSize is the byte size of one frame as GStreamer lays it out.
func frameSize(format string, w, h int) int {
	switch format {
	case "RGBA":
		return w * 4 * h
	case "I420":
		cw, chh := (w+1)/2, (h+1)/2
		return roundUp4(w)*h + 2*roundUp4(cw)*chh
	}
	return roundUp4(w*3) * h
}

// blackFrame is the idle frame until the first real one: opaque black.
func blackFrame(format string, w, h int) []byte {
	b := make([]byte, frameSize(format, w, h))
	switch format {
	case "RGBA":
		for i := 3; i < len(b); i += 4 {
			b[i] = 0xff
		}
	case "I420":
		y := roundUp4(w) * h
		for i := range b {
			if i < y {
				b[i] = 16
			} else {
				b[i] = 128
			}
		}
	}
	return b
}

// parseFraction reads "25", "25/1" or "30000/1001".
func parseFraction(s string) (int, int, error) {
	num, den, found := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return 0, 0, fmt.Errorf("framerate %q: %w", s, err)
	}
	d := 1
	if found {
		if d, err = strconv.Atoi(strings.TrimSpace(den)); err != nil {
			return 0, 0, fmt.Errorf("framerate %q: %w", s, err)
		}
	}
	if n <= 0 || d <= 0 || n/d > 240 {
		return 0, 0, fmt.Errorf("framerate %q: want a positive rate up to 240/1", s)
	}
	return n, d, nil
}
