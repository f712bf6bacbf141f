package demo

import "math"

// The demo avatar's idle loop: 3 s in which the face breathes (rises and falls by
// 1.2 % of its size, one sine period, so the loop's last frame meets its first) and
// blinks once (the lids close over three frames and open over two). A frame repeated
// in the loop is the same slice, so the element holds each distinct picture once.
const (
	idleLoopSeconds = 3
	breathAmplitude = 0.012 // of the frame's smaller side
	blinkAt         = 1.2   // s into the loop
)

// blink is the eyes' openness over the frames of a blink, from its first frame.
var blink = []float64{0.6, 0.25, 0, 0.4, 0.8}

// idleClip draws the idle loop at fpsN/fpsD.
func idleClip(w, h, fpsN, fpsD int) [][]byte {
	n := idleLoopSeconds * fpsN / fpsD
	type pose struct {
		dy  int
		eye float64
	}
	drawn := map[pose][]byte{}
	first := int(math.Round(blinkAt * float64(fpsN) / float64(fpsD)))
	out := make([][]byte, n)
	for i := range out {
		p := pose{eye: 1}
		p.dy = int(math.Round(breathAmplitude * float64(min(w, h)) * math.Sin(2*math.Pi*float64(i)/float64(n))))
		if k := i - first; k >= 0 && k < len(blink) {
			p.eye = blink[k]
		}
		if drawn[p] == nil {
			drawn[p] = drawFace(w, h, 0, p.eye, p.dy)
		}
		out[i] = drawn[p]
	}
	return out
}
