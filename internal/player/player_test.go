package player_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/player"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/timeline"
)

const rate = 24000

// rig is a live (or not) pipeline with both sources feeding appsinks.
type rig struct {
	p      *gst.Pipeline
	pl     *player.Player
	audio  *gsttest.Collector
	video  *gsttest.Collector
	w, h   int
	fpsN   int
	fpsD   int
	chunkN int
}

func newRig(t *testing.T, live bool, fps string, audioProps, videoProps string, keepAudio, keepVideo bool) *rig {
	t.Helper()
	r := &rig{w: 32, h: 16, chunkN: rate / 50}
	fmt.Sscanf(fps, "%d/%d", &r.fpsN, &r.fpsD)
	sync := "false"
	if live {
		sync = "true"
	}
	desc := fmt.Sprintf("pcmslicesrc name=a is-live=%v %s ! appsink name=as sync=%s "+
		"singleframesrc name=v is-live=%v width=%d height=%d framerate=%s %s ! appsink name=vs sync=%s",
		live, audioProps, sync, live, r.w, r.h, fps, videoProps, sync)
	r.p = gsttest.Pipeline(t, desc)
	ae, _ := r.p.GetElementByName("a")
	ve, _ := r.p.GetElementByName("v")
	as, err := pcmslicesrc.FromElement(ae)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := singleframesrc.FromElement(ve)
	if err != nil {
		t.Fatal(err)
	}
	r.pl = &player.Player{Audio: as, Video: vs}
	all := func(int) bool { return true }
	var ka, kv func(int) bool
	if keepAudio {
		ka = all
	}
	if keepVideo {
		kv = all
	}
	r.audio = gsttest.Collect(t, r.p, "as", ka)
	r.video = gsttest.Collect(t, r.p, "vs", kv)
	return r
}

// tone is n samples of a waveform that is never zero, so emitted utterance audio can
// be told from silence sample by sample.
func tone(n int) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(3000 + (i*37)%5000)
	}
	return s
}

func s16Bytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func bytesS16(b []byte) []int16 {
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

// frames returns n frames whose first 8 bytes carry their index.
func (r *rig) frames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		f := make([]byte, r.pl.Video.FrameSize())
		binary.LittleEndian.PutUint64(f, uint64(i+1))
		out[i] = f
	}
	return out
}

func frameIndex(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) - 1 }

var mono = pcm.Format{Type: pcm.S16, Rate: rate, Channels: 1}

func TestTenSecondUtteranceIsExactlyOnTheGrid(t *testing.T) {
	r := newRig(t, true, "30/1", "", "", true, true)
	gsttest.Play(t, r.p)
	if err := r.audio.WaitFor(5, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wave := tone(10 * rate)
	nFrames := 300
	pb, err := r.pl.Play(context.Background(), player.Utterance{PCM: s16Bytes(wave), Format: mono, Frames: r.frames(nFrames)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := pb.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if pb.State() != timeline.Finished {
		t.Fatalf("utterance %v, want finished", pb.State())
	}
	t0 := pb.T0()
	end, _ := pb.End()
	if err := r.video.WaitFor(len(r.video.Bufs())+3, 2*time.Second); err != nil {
		t.Fatal(err)
	}

	// Audio: every chunk of the stream on n·20 ms, utterance chunk k at T0 + k·20 ms
	// holding exactly samples k·480 … of the waveform.
	chunk := 20 * time.Millisecond
	bufs := r.audio.Bufs()
	k := 0
	for i, b := range bufs {
		if i > 0 && b.PTS != bufs[i-1].PTS+chunk {
			t.Fatalf("audio chunk %d at %v follows %v: not contiguous", i, b.PTS, bufs[i-1].PTS)
		}
		if b.PTS < t0 || b.PTS >= end {
			continue
		}
		if want := t0 + time.Duration(k)*chunk; b.PTS != want {
			t.Fatalf("utterance chunk %d at %v, want %v", k, b.PTS, want)
		}
		got := bytesS16(b.Data)
		for j, v := range got {
			if v != wave[k*r.chunkN+j] {
				t.Fatalf("utterance chunk %d sample %d = %d, want %d", k, j, v, wave[k*r.chunkN+j])
			}
		}
		k++
	}
	if k != 500 {
		t.Fatalf("%d utterance chunks, want 500", k)
	}

	// Video: frame i at exactly T0 + i/fps; nothing of the utterance after the audio.
	seen := 0
	for _, b := range r.video.Bufs() {
		i := frameIndex(b.Data)
		if i < 0 {
			continue
		}
		if want := t0 + timeline.FramePTS(i, 30, 1); b.PTS != want {
			t.Fatalf("frame %d at %v, want %v", i, b.PTS, want)
		}
		if b.PTS >= end {
			t.Fatalf("frame %d at %v after the audio ended at %v", i, b.PTS, end)
		}
		seen++
	}
	if seen != nFrames {
		t.Fatalf("%d utterance frames emitted, want %d", seen, nFrames)
	}
	t.Logf("T0=%v: 500 chunks and %d frames exactly on the grid", t0, seen)
}

func TestOneHourNonLiveHasNoDrift(t *testing.T) {
	const chunks, frames = 180000, 107892 // one hour at 50 chunks/s and 29.97 fps
	r := newRig(t, false, "30000/1001", fmt.Sprintf("num-buffers=%d", chunks), fmt.Sprintf("num-buffers=%d", frames), false, false)
	start := time.Now()
	gsttest.Play(t, r.p)
	gsttest.WaitEOS(t, r.p, 5*time.Minute)
	ab, vb := r.audio.Bufs(), r.video.Bufs()
	if len(ab) != chunks || len(vb) != frames {
		t.Fatalf("got %d chunks and %d frames, want %d and %d", len(ab), len(vb), chunks, frames)
	}
	for k, b := range ab {
		if want := time.Duration(k) * 20 * time.Millisecond; b.PTS != want || b.Duration != 20*time.Millisecond {
			t.Fatalf("chunk %d at %v+%v, want %v", k, b.PTS, b.Duration, want)
		}
	}
	for i, b := range vb {
		if want := timeline.FramePTS(int64(i), 30000, 1001); b.PTS != want {
			t.Fatalf("frame %d at %v, want %v", i, b.PTS, want)
		}
	}
	last := vb[len(vb)-1]
	t.Logf("1 h of stream in %v: last chunk %v, last frame %v (0 ns drift)", time.Since(start).Round(time.Millisecond), ab[len(ab)-1].PTS, last.PTS)
}

func TestIdleStreamsKeepComing(t *testing.T) {
	r := newRig(t, true, "25/1", "", "", true, false)
	gsttest.Play(t, r.p)
	// 5 s with no input at all: 250 chunks and 125 frames, contiguous.
	if err := r.audio.WaitFor(251, 8*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.video.WaitFor(126, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	ab, vb := r.audio.Bufs(), r.video.Bufs()
	for i := 1; i < len(ab); i++ {
		if ab[i].PTS != ab[i-1].PTS+20*time.Millisecond {
			t.Fatalf("audio gap at chunk %d", i)
		}
		for _, v := range bytesS16(ab[i].Data) {
			if v != 0 {
				t.Fatalf("idle chunk %d is not silence", i)
			}
		}
	}
	for i := 1; i < len(vb); i++ {
		if vb[i].PTS != vb[i-1].PTS+40*time.Millisecond {
			t.Fatalf("video gap at frame %d: %v after %v", i, vb[i].PTS, vb[i-1].PTS)
		}
	}
	if span := vb[len(vb)-1].PTS - vb[0].PTS; span < 5*time.Second {
		t.Fatalf("idle video spans %v, want ≥ 5 s", span)
	}
}
