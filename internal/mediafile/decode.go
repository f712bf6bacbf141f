// Package mediafile reads the inputs of `avhost run` — a WAV (or any audio file), a
// directory of numbered images or a video, an idle image — into raw PCM and frames,
// decoding with GStreamer so every format and rate it knows is accepted and audio is
// resampled with audioresample rather than by avhost.
package mediafile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// ErrNoFrames is returned for a frames input that holds no image.
var ErrNoFrames = errors.New("mediafile: no frames found")

// pull runs "filesrc name=src ! " + desc (ending in "appsink name=sink") on the file
// at path to EOS and returns every buffer. The path is set as the filesrc's property,
// never pasted into the description: any text in it stays a file name.
func pull(path, desc string) ([][]byte, error) {
	p, err := gst.NewPipelineFromString("filesrc name=src ! " + desc)
	if err != nil {
		return nil, fmt.Errorf("mediafile: %w", err)
	}
	defer p.SetState(gst.StateNull)
	src, err := p.GetElementByName("src")
	if err != nil {
		return nil, err
	}
	if err := src.SetProperty("location", path); err != nil {
		return nil, fmt.Errorf("mediafile: %s: %w", path, err)
	}
	e, err := p.GetElementByName("sink")
	if err != nil {
		return nil, err
	}
	sink := app.SinkFromElement(e)
	if err := p.SetState(gst.StatePlaying); err != nil {
		return nil, fmt.Errorf("mediafile: start: %w", err)
	}
	var out [][]byte
	for {
		s := sink.TryPullSample(gst.ClockTime(30 * time.Second))
		if s == nil {
			break
		}
		out = append(out, s.GetBuffer().Bytes())
	}
	msg := p.GetPipelineBus().TimedPopFiltered(gst.ClockTime(time.Second), gst.MessageError|gst.MessageEOS)
	if msg != nil && msg.Type() == gst.MessageError {
		return nil, fmt.Errorf("mediafile: %s: %w", msg.Source(), msg.ParseError())
	}
	return out, nil
}

// Audio decodes path to interleaved s16 at rate and channels.
func Audio(path string, rate, channels int) ([]byte, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("mediafile: audio: %w", err)
	}
	bufs, err := pull(path, fmt.Sprintf("decodebin ! audioconvert ! audioresample ! "+
		"audio/x-raw,format=S16LE,layout=interleaved,rate=%d,channels=%d ! appsink name=sink sync=false", rate, channels))
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, b := range bufs {
		out = append(out, b...)
	}
	return out, nil
}

func videoCaps(format string, w, h int) string {
	return fmt.Sprintf("video/x-raw,format=%s,width=%d,height=%d,pixel-aspect-ratio=1/1", format, w, h)
}

// Image decodes one image file to a raw frame.
func Image(path, format string, w, h int) ([]byte, error) {
	bufs, err := pull(path, fmt.Sprintf("decodebin ! videoconvert ! videoscale ! %s ! appsink name=sink sync=false",
		videoCaps(format, w, h)))
	if err != nil {
		return nil, err
	}
	if len(bufs) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoFrames, path)
	}
	return bufs[0], nil
}

// Frames reads a directory of numbered PNG/JPEG images (in name order) or any video
// GStreamer decodes (resampled to fpsN/fpsD) into raw frames.
func Frames(path, format string, w, h, fpsN, fpsD int) ([][]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("mediafile: frames: %w", err)
	}
	if !st.IsDir() {
		return pull(path, fmt.Sprintf("decodebin ! videoconvert ! videoscale ! videorate ! %s,framerate=%d/%d ! appsink name=sink sync=false",
			videoCaps(format, w, h), fpsN, fpsD))
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg":
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoFrames, path)
	}
	sort.Strings(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		f, err := Image(filepath.Join(path, n), format, w, h)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
