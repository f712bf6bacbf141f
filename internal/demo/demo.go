// Package demo is the built-in demo avatar behind `make run`: a drawn face whose mouth
// follows the envelope of built-in speech-like audio, speaking in a session on a loop
// or when asked.
package demo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/timeline"
)

// ErrSpeaking is returned by Speak while the avatar is still speaking.
var ErrSpeaking = errors.New("demo: already speaking")

// Avatar drives one session.
type Avatar struct {
	s      *session.Session
	audio  []byte
	frames [][]byte
	next   uint32

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// Start draws the face, sets it as the idle frame and, with loop > 0, speaks every loop.
func Start(s *session.Session, loop time.Duration) (*Avatar, error) { return start(s, loop, true) }

// StartStill is Start with a still face between utterances instead of the idle loop:
// a session as a model server that never uploads an idle clip has it (benchmarks
// hold session costs to that, the clip's frames being content).
func StartStill(s *session.Session, loop time.Duration) (*Avatar, error) {
	return start(s, loop, false)
}

func start(s *session.Session, loop time.Duration, clip bool) (*Avatar, error) {
	cfg := s.Config()
	if cfg.Encoded() || cfg.Format != "BGR" {
		return nil, fmt.Errorf("demo: needs a BGR session, got %s", cfg.Format)
	}
	var fpsN, fpsD int
	if n, _ := fmt.Sscanf(cfg.FPS, "%d/%d", &fpsN, &fpsD); n == 1 {
		fpsD = 1
	}
	env := envelope(3 * time.Second)
	a := &Avatar{s: s, audio: speech(env, cfg.Rate), stop: make(chan struct{}), done: make(chan struct{})}
	// Eight mouth shapes are enough to read as speech; frames share them, so a demo
	// session holds 8 frames, not one per 40 ms.
	var shapes [8][]byte
	for k := range shapes {
		shapes[k] = face(cfg.Width, cfg.Height, float64(k)/7)
	}
	nFrames := 3 * fpsN / fpsD
	for i := 0; i < nFrames; i++ {
		t := float64(i) * float64(fpsD) / float64(fpsN)
		a.frames = append(a.frames, shapes[int(math.Round(env.at(t)*7))])
	}
	if err := s.Idle(face(cfg.Width, cfg.Height, 0)); err != nil {
		return nil, err
	}
	// Then the idle loop: the face breathes and blinks between utterances.
	if clip {
		if err := s.SetIdleClip(idleClip(cfg.Width, cfg.Height, fpsN, fpsD)); err != nil {
			return nil, err
		}
	}
	go a.loop(loop)
	return a, nil
}

func (a *Avatar) loop(every time.Duration) {
	defer close(a.done)
	if every <= 0 {
		<-a.stop
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.Speak()
		}
	}
}

// Stop ends the loop; idempotent.
func (a *Avatar) Stop() {
	a.mu.Lock()
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.mu.Unlock()
	<-a.done
}

// Speak plays the demo utterance: 3 s of speech-like audio and its frames.
func (a *Avatar) Speak() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	cfg := a.s.Config()
	f := pcm.Format{Type: pcm.S16, Rate: cfg.Rate, Channels: 1}
	if err := a.s.Begin(a.next, f, int64(len(a.frames))); err != nil {
		if errors.Is(err, timeline.ErrBusy) {
			return ErrSpeaking
		}
		return err
	}
	if err := a.s.Audio(a.next, a.audio); err != nil {
		return err
	}
	if err := a.s.End(a.next); err != nil {
		return err
	}
	for i, fr := range a.frames {
		err := a.s.Frame(a.next, int64(i), fr)
		if session.IsQueueFull(err) {
			// A big session's frame queue (capped in bytes) holds less than the 3 s:
			// the rest follows as it drains.
			go a.feed(a.next, i, cfg.FrameRate())
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// feed queues frames from i on, one frame time apart while the queue is full, until
// all are in, the utterance is over or the avatar stops.
func (a *Avatar) feed(utt uint32, i int, fps session.FPS) {
	t := time.NewTicker(time.Second * time.Duration(fps.Den) / time.Duration(fps.Num))
	defer t.Stop()
	for i < len(a.frames) {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		for ; i < len(a.frames); i++ {
			err := a.s.Frame(utt, int64(i), a.frames[i])
			if session.IsQueueFull(err) {
				break
			}
			if err != nil && !errors.Is(err, timeline.ErrLate) {
				return
			}
		}
	}
}

// syllables is a fixed, speech-like rhythm: (start s, length s, loudness).
type syllables [][3]float64

func envelope(d time.Duration) syllables {
	var s syllables
	t, k := 0.15, 0
	for t < d.Seconds()-0.3 {
		l := 0.12 + 0.1*float64((k*7)%5)/4
		s = append(s, [3]float64{t, l, 0.5 + 0.5*float64((k*3)%4)/3})
		t += l + 0.05 + 0.25*float64((k*5)%7)/6*float64(k%3/2)
		k++
	}
	return s
}

// at is the mouth opening (0..1) at t seconds.
func (s syllables) at(t float64) float64 {
	for _, y := range s {
		if t >= y[0] && t < y[0]+y[1] {
			return y[2] * math.Sin(math.Pi*(t-y[0])/y[1])
		}
	}
	return 0
}

// speech is voiced, vowel-like sound under the envelope: a gliding pitch with
// harmonics weighted like two formants.
func speech(env syllables, rate int) []byte {
	n := 3 * rate
	out := make([]byte, 2*n)
	phase := 0.0
	for i := 0; i < n; i++ {
		t := float64(i) / float64(rate)
		f0 := 120 + 25*math.Sin(2*math.Pi*0.7*t)
		phase += 2 * math.Pi * f0 / float64(rate)
		v := 0.0
		for h := 1; h <= 20; h++ {
			f := f0 * float64(h)
			w := math.Exp(-math.Pow((f-700)/250, 2)) + 0.6*math.Exp(-math.Pow((f-1200)/300, 2)) + 0.15/float64(h)
			v += w * math.Sin(float64(h)*phase)
		}
		s := 0.25 * v * env.at(t)
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(math.Max(-1, math.Min(1, s))*32767)))
	}
	return out
}

// face draws a BGR frame: a face with eyes and a mouth opened by open (0..1).
func face(w, h int, open float64) []byte { return drawFace(w, h, open, 1, 0) }

// drawFace is face with the eyes open by eye (0: shut) and the face lower pixels lower.
func drawFace(w, h int, open, eye float64, lower int) []byte {
	stride := (w*3 + 3) &^ 3
	img := make([]byte, stride*h)
	cx, cy, r := float64(w)/2, float64(h)/2+float64(lower), 0.38*float64(min(w, h))
	eyeRY := max(0.06*r*eye, 0.008*r) // a shut eye is the line of its lids
	set := func(x, y int, b, g, rr byte) {
		o := y*stride + 3*x
		img[o], img[o+1], img[o+2] = b, g, rr
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			switch {
			case dx*dx+dy*dy > r*r:
				set(x, y, 60, 40, 30) // background
			case inEllipse(dx+0.35*r, dy+0.25*r, 0.09*r, eyeRY) || inEllipse(dx-0.35*r, dy+0.25*r, 0.09*r, eyeRY):
				set(x, y, 40, 30, 20) // eyes
			case inEllipse(dx, dy-0.4*r, 0.32*r, 0.02*r+0.22*r*open):
				set(x, y, 40, 30, 140) // mouth
			default:
				set(x, y, 150, 190, 230) // skin
			}
		}
	}
	return img
}

func inEllipse(dx, dy, rx, ry float64) bool { return (dx*dx)/(rx*rx)+(dy*dy)/(ry*ry) <= 1 }
