package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// serverCode is the ingest error code behind err, or "".
func serverCode(err error) string {
	var se *client.ServerError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// stillServes fails the test unless the host answers /healthz and creates a session.
func stillServes(t *testing.T, h *host, c *client.Client, id string) {
	t.Helper()
	resp, err := http.Get(h.web + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	create(t, c, id)
}

// Row 1 of issue 10: an fps that carries pipeline elements is refused whole, and the
// filesrc/filesink it smuggles never run.
func TestCreateWithElementsInTheFPSIsRefused(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	stolen := filepath.Join(t.TempDir(), "x")
	fps := "25/1 format=BGR ! fakesink filesrc location=/etc/hostname ! filesink location=" + stolen + " singleframesrc name=v2 framerate=25/1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Create(ctx, "inject", &client.VideoFormat{FPS: fps}, nil)
	if code := serverCode(err); code != "bad_config" || !strings.Contains(err.Error(), "fps") {
		t.Fatalf("create: %v (code %q), want bad_config naming the fps", err, code)
	}
	if _, err := os.Stat(stolen); err == nil {
		t.Fatal("the smuggled filesink wrote its file")
	}
	if _, err := h.srv.Sessions.Get("inject"); err == nil {
		t.Fatal("the session exists")
	}
	stillServes(t, h, c, "after")
}

// pngBomb is a valid PNG header claiming 65535×65535 16-bit RGBA (34 GB decoded) with
// one tiny IDAT: about 100 bytes (row 4 of issue 10).
func pngBomb() []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, 65535)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 65535)
	chunk("IHDR", append(ihdr, 16, 6, 0, 0, 0)) // 16-bit, RGBA, deflate, no filter, no interlace
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// Row 4: the bomb as a png session's idle frame is refused from its header (the
// process would die allocating it otherwise), and the session goes on taking frames.
func TestPNGBombIdleFrameIsRefusedFromItsHeader(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Create(ctx, "bomb", &client.VideoFormat{Format: "png"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := h.srv.Sessions.Get("bomb")
	if err != nil {
		t.Fatal(err)
	}
	w, hgt := s.Video.Width, s.Video.Height
	vtap := gsttest.Collect(t, sess.Pipeline(), "vtap", func(int) bool { return true })
	bomb := pngBomb()
	if len(bomb) > 120 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	if err := s.SetIdle(bomb); err != nil {
		t.Fatal(err)
	}
	e := waitEventOrError(t, s, ingestproto.TypeError, 10*time.Second)
	if e.Code != "bad_frame" || !strings.Contains(e.Error, "65535x65535") {
		t.Fatalf("got %s %q, want bad_frame naming the claimed size", e.Code, e.Error)
	}
	// The session still works: a real PNG idle frame of its size is what it shows.
	img := image.NewNRGBA(image.Rect(0, 0, w, hgt))
	for i := range img.Pix {
		img.Pix[i] = []byte{10, 20, 30, 255}[i%4]
	}
	var good bytes.Buffer
	png.Encode(&good, img)
	if err := s.SetIdle(good.Bytes()); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{30, 20, 10}, w*hgt) // BGR; w*3 is a multiple of 4 here
	waitFor(t, 5*time.Second, func() bool {
		bufs := vtap.Bufs()
		return len(bufs) > 0 && bytes.Equal(bufs[len(bufs)-1].Data, want)
	}, "the new idle frame on the video tap")
	stillServes(t, h, c, "after")
}

// Row 8: far-future 1080p JPEG frames are held decoded (6.2 MB each); past the
// default byte cap (session.DefaultMaxQueueBytes) they are refused with queue_full
// and not queued, where the count cap alone (4 s, 100 frames) held 622 MB.
func TestFarFutureFramesStopAtTheByteCap(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Create(ctx, "far", &client.VideoFormat{Width: 1920, Height: 1080, FPS: "25", Format: "jpeg"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := h.srv.Sessions.Get("far")
	if err != nil {
		t.Fatal(err)
	}
	const frameBytes = 1920 * 3 * 1080
	capFrames := int(session.DefaultMaxQueueBytes / frameBytes) // 43
	img := image.NewYCbCr(image.Rect(0, 0, 1920, 1080), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 50}); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(1, nil, -1); err != nil {
		t.Fatal(err)
	}
	const sent = 60
	for i := 0; i < sent; i++ {
		if err := s.SendFrame(1, 1_000_000+int64(i), jpg.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	full := 0
	deadline := time.After(30 * time.Second)
	for full < sent-capFrames {
		select {
		case e := <-s.Events():
			if e.Type == ingestproto.TypeError {
				if e.Code != "queue_full" {
					t.Fatalf("error %s: %s", e.Code, e.Error)
				}
				full++
			}
		case <-deadline:
			t.Fatalf("%d queue_full errors for %d frames over a cap of %d; %d queued",
				full, sent, capFrames, sess.Stats().Video.QueuedNow)
		}
	}
	if q := sess.Stats().Video.QueuedNow; q != capFrames {
		t.Fatalf("%d frames queued, want the cap's %d", q, capFrames)
	}
	t.Logf("%d of %d far-future 1080p frames queued (%d MiB), %d refused with queue_full",
		capFrames, sent, capFrames*frameBytes>>20, full)
}

// The memory budget refuses a create that would take the sessions' estimated memory
// past it, with its own code; closing a session gives its share back.
func TestMemoryBudgetRefusesACreate(t *testing.T) {
	one, err := session.Cost(session.Config{ID: "x", Width: 32, Height: 16})
	if err != nil {
		t.Fatal(err)
	}
	h := startHost(t, func(c *server.Config) { c.MemoryBudgetMiB = (one + one/2) >> 20 })
	c := dial(t, h)
	a := create(t, c, "a")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Create(ctx, "b", nil, nil)
	if code := serverCode(err); code != "memory_budget" {
		t.Fatalf("second session: %v (code %q), want memory_budget", err, code)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	create(t, c, "c")
}
