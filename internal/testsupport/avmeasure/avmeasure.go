// Package avmeasure reads the flash+beep sync pattern back from a media file with
// ffprobe/ffmpeg: when frames turn white and when tone bursts start, on the file's
// timeline. Tests use it for recorded files and RTSP recordings alike.
package avmeasure

import (
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Flashes returns the times (s) at which frames turn white (mean luma > 128).
func Flashes(file string) ([]float64, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-f", "lavfi", "movie="+file+",signalstats",
		"-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0").Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe: %w", err)
	}
	var ts []float64
	was := false
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, ",")
		if len(f) < 2 {
			continue
		}
		pts, _ := strconv.ParseFloat(f[0], 64)
		y, _ := strconv.ParseFloat(f[1], 64)
		if y > 128 && !was {
			ts = append(ts, pts)
		}
		was = y > 128
	}
	return ts, nil
}

// Beeps returns the onsets (s) of tone bursts, timed from the audio stream's start.
func Beeps(file string) ([]float64, error) {
	st, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=start_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		return nil, fmt.Errorf("ffprobe: %w", err)
	}
	// The first line: an MPEG-TS file lists its streams again under its program.
	first, _, _ := strings.Cut(strings.TrimSpace(string(st)), "\n")
	start, _ := strconv.ParseFloat(strings.TrimSpace(first), 64)
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	var on []float64
	for i := 0; i+1 < len(raw); i += 2 {
		v := int16(binary.LittleEndian.Uint16(raw[i:]))
		ts := float64(i/2)/48000 + math.Max(start, 0)
		if (v > 3000 || v < -3000) && (len(on) == 0 || ts-on[len(on)-1] > 0.3) {
			on = append(on, ts)
		}
	}
	return on, nil
}

// Offsets pairs each flash with the nearest beep (within 400 ms) and returns beep
// minus flash in ms.
func Offsets(flashes, beeps []float64) []float64 {
	var out []float64
	for _, f := range flashes {
		best := math.Inf(1)
		for _, b := range beeps {
			if math.Abs(b-f) < math.Abs(best) {
				best = b - f
			}
		}
		if math.Abs(best) < 0.4 {
			out = append(out, best*1000)
		}
	}
	return out
}

// Percentile returns the p-quantile (0..1) of v.
func Percentile(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[int(math.Min(float64(len(s)-1), math.Floor(p*float64(len(s)))))]
}
