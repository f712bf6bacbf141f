package refsend

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// encode makes the pattern with ffmpeg: H.264 (Annex B, an access unit delimiter
// before each picture, so the file splits into pictures without parsing slices) and
// Opus in Ogg. The tone is generated lookahead early: libopus delays its output by
// its pre-skip (312 samples at 48 kHz, RFC 7845 §4.2), which a WebRTC receiver does
// not remove, so the burst decoded from packet k starts where the packet's RTP time
// says, as the flash does.
func encode(dir string, seconds, w, h, fps int, opus []string) (video, audio string, err error) {
	video, audio = filepath.Join(dir, "ref.h264"), filepath.Join(dir, "ref.ogg")
	flash := fmt.Sprintf("color=black:s=%dx%d:r=%d:d=%d,drawbox=c=white:t=fill:enable='lt(mod(n,%d),%d)'",
		w, h, fps, seconds, fps, max(1, fps*80/1000))
	rate := 48000
	for i := 0; i+1 < len(opus); i++ {
		if opus[i] == "-ar" {
			fmt.Sscan(opus[i+1], &rate)
		}
	}
	tone := fmt.Sprintf("aevalsrc='if(lt(mod(t+312/48000,1),0.08),0.5*sin(2*PI*1000*(t+312/48000)),0)':s=%d:d=%d", rate, seconds)
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", flash, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
			"-profile:v", "baseline", "-g", fmt.Sprint(2 * fps), "-b:v", "1500k", "-x264-params", "aud=1",
			"-pix_fmt", "yuv420p", "-f", "h264", video},
		append(append([]string{"-f", "lavfi", "-i", tone, "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20"}, opus...),
			"-page_duration", "20000", "-f", "ogg", audio),
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("ffmpeg: %v: %s", err, out)
		}
	}
	return video, audio, nil
}

// accessUnits splits an Annex B stream at its access unit delimiters (NAL type 9).
func accessUnits(b []byte) [][]byte {
	var starts []int
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 0 && b[i+3] == 1 && b[i+4]&0x1f == 9 {
			starts = append(starts, i)
		}
	}
	var aus [][]byte
	for i, s := range starts {
		e := len(b)
		if i+1 < len(starts) {
			e = starts[i+1]
		}
		aus = append(aus, b[s:e])
	}
	return aus
}

// oggPackets returns the packets of an Ogg stream (RFC 3533) after its first two,
// Opus's ID and comment headers (RFC 7845 §5).
func oggPackets(b []byte) ([][]byte, error) {
	var pkts [][]byte
	var cur []byte
	for len(b) > 0 {
		if len(b) < 27 || !bytes.HasPrefix(b, []byte("OggS")) {
			return nil, errors.New("refsend: not an Ogg page")
		}
		n := int(b[26])
		if len(b) < 27+n {
			return nil, errors.New("refsend: short Ogg page")
		}
		lace, body := b[27:27+n], b[27+n:]
		size := 0
		for _, l := range lace {
			size += int(l)
		}
		if len(body) < size {
			return nil, errors.New("refsend: short Ogg page body")
		}
		for _, l := range lace {
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				pkts, cur = append(pkts, cur), nil
			}
		}
		b = b[27+n+size:]
	}
	if len(pkts) < 2 {
		return nil, errors.New("refsend: no Opus headers")
	}
	return pkts[2:], nil
}

func readMedia(dir string, seconds, w, h, fps int, opusArgs []string) (aus, opus [][]byte, err error) {
	vf, af, err := encode(dir, seconds, w, h, fps, opusArgs)
	if err != nil {
		return nil, nil, err
	}
	vb, err := os.ReadFile(vf)
	if err != nil {
		return nil, nil, err
	}
	ab, err := os.ReadFile(af)
	if err != nil {
		return nil, nil, err
	}
	if opus, err = oggPackets(ab); err != nil {
		return nil, nil, err
	}
	return accessUnits(vb), opus, nil
}
