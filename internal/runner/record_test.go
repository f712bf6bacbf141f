package runner_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/runner"
	"github.com/avhost/avhost/internal/testsupport/avmeasure"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// avhostBin builds cmd/avhost once per test run (from the build cache after the first).
func avhostBin(t *testing.T) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "avhost-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "avhost")
		if out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/avhost").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("building avhost: %v", binErr)
	}
	return binPath
}

// pulses: a white frame and a 1 kHz tone burst at the same timeline position, once a
// second, 100 ms long, starting on a frame boundary.
const (
	fps     = 25
	wavRate = 44100 // not the pipeline's rate: avhost run converts
	seconds = 4
)

func pulseAt(k int) float64 { return float64(k) + 0.52 }

func writeInputs(t *testing.T, dir string) (wav, frames string) {
	t.Helper()
	n := wavRate * seconds
	pcm := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		ts := float64(i) / wavRate
		for k := 0; k < seconds; k++ {
			if ts >= pulseAt(k) && ts < pulseAt(k)+0.1 {
				binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(12000*math.Sin(2*math.Pi*1000*(ts-pulseAt(k))))))
			}
		}
	}
	var hdr bytes.Buffer
	le := func(v any) { binary.Write(&hdr, binary.LittleEndian, v) }
	hdr.WriteString("RIFF")
	le(uint32(36 + len(pcm)))
	hdr.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(wavRate))
	le(uint32(2 * wavRate))
	le(uint16(2))
	le(uint16(16))
	hdr.WriteString("data")
	le(uint32(len(pcm)))
	wav = filepath.Join(dir, "pulses.wav")
	if err := os.WriteFile(wav, append(hdr.Bytes(), pcm...), 0o644); err != nil {
		t.Fatal(err)
	}
	frames = filepath.Join(dir, "frames")
	os.Mkdir(frames, 0o755)
	for i := 0; i < seconds*fps; i++ {
		ts := float64(i) / fps
		var c uint8
		for k := 0; k < seconds; k++ {
			if ts >= pulseAt(k)-1e-9 && ts < pulseAt(k)+0.1-1e-9 {
				c = 255
			}
		}
		img := image.NewRGBA(image.Rect(0, 0, 64, 64))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = c, c, c, 255
		}
		f, err := os.Create(filepath.Join(frames, fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	return wav, frames
}

func flashes(t *testing.T, file string) []float64 {
	f, err := avmeasure.Flashes(file)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func beeps(t *testing.T, file string) []float64 {
	b, err := avmeasure.Beeps(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordedFlashAndBeepLineUp(t *testing.T) {
	gsttest.Init()
	for _, ext := range []string{"mkv"} {
		t.Run("in "+ext, func(t *testing.T) {
			dir := t.TempDir()
			wav, frames := writeInputs(t, dir)
			out := filepath.Join(dir, "out."+ext)
			// The command line as a user types it.
			cmd := exec.Command(avhostBin(t), "run", "../../pipelines/record.pipeline", "--audio", wav, "--frames", frames,
				"--fps", strconv.Itoa(fps), "--width", "128", "--height", "128", "--out", out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("avhost run: %v\n%s", err, b)
			}
			fl, bp := flashes(t, out), beeps(t, out)
			if len(fl) != seconds || len(bp) != seconds {
				t.Fatalf("found %d flashes %v and %d beeps %v, want %d each", len(fl), fl, len(bp), bp, seconds)
			}
			for k := range fl {
				d := (bp[k] - fl[k]) * 1000
				t.Logf("pulse %d: flash %.3f s, beep %.4f s, offset %+.1f ms", k, fl[k], bp[k], d)
				if math.Abs(d) > 20 {
					t.Fatalf("pulse %d: beep %.1f ms from the flash, want within one 20 ms chunk", k, d)
				}
			}
		})
	}
}

func TestWrongFormatPropertyIsAClearError(t *testing.T) {
	b, err := exec.Command(avhostBin(t), "run", "singleframesrc format=NV12 num-buffers=3 ! fakesink").CombinedOutput()
	if err == nil || !strings.Contains(string(b), `format "NV12"`) {
		t.Fatalf("got %v:\n%s\nwant a failure naming the format", err, b)
	}
	t.Log(strings.TrimSpace(string(b)))
}

func TestBusErrorNamesTheElement(t *testing.T) {
	gsttest.Init()
	err := runner.Run(context.Background(), runner.Config{
		Pipeline: "pcmslicesrc num-buffers=5 ! filesink location=/nonexistent/dir/x.raw"})
	var ee *runner.ErrElement
	if err == nil || !errorsAs(err, &ee) || !strings.Contains(ee.Element, "filesink") {
		t.Fatalf("got %v, want an error naming the filesink", err)
	}
	t.Log(err)
}

func TestRunServesRTSP(t *testing.T) {
	dir := t.TempDir()
	wav, frames := writeInputs(t, dir)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(avhostBin(t), "run", "../../pipelines/rtsp.pipeline", "--audio", wav, "--frames", frames,
		"--fps", "25", "--width", "128", "--height", "128", "--rtsp", addr, "--rtsp-path", "avatar")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := "rtsp://" + addr + "/avatar"
	var out []byte
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		out, err = exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+1",
			"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the command is starting; bounded by the deadline
	}
	if err != nil || !strings.Contains(string(out), "h264,") || !strings.Contains(string(out), "opus,") {
		t.Fatalf("ffprobe %s: %v\n%s\navhost: %s", url, err, out, stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("avhost run rtsp: %v\n%s", err, stderr.String())
	}
	t.Logf("avhost run rtsp: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " "))
}
