package server_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

// tapPipeline replaces the encoders with appsinks, so tests see what the sources emit.
const tapPipeline = `
singleframesrc name=video width=${WIDTH} height=${HEIGHT} framerate=${FPS} format=${FORMAT}
  max-queue-frames=${MAX_FRAMES} overflow=reject ! appsink name=vtap sync=false
pcmslicesrc name=audio rate=${RATE} channels=${CHANNELS} max-queue-ms=${MAX_QUEUE_MS} overflow=reject
  ! appsink name=atap sync=false`

const token = "test-token"

type host struct {
	srv *server.Server
	ws  string // ingest URL
	web string // http base URL
}

func startHost(t testing.TB, mod func(*server.Config)) *host {
	t.Helper()
	gsttest.Init()
	no := false
	cfg := server.Config{Listen: "127.0.0.1:0", Token: token, Demo: &no, RTSP: rtspout.Config{Address: "-"},
		Session: session.Config{Width: 32, Height: 16, Pipeline: tapPipeline}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := srv.Addr().String()
	return &host{srv: srv, ws: "ws://" + addr + "/ingest", web: "http://" + addr}
}

func dial(t *testing.T, h *host) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, h.ws, client.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func create(t *testing.T, c *client.Client, id string) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Create(ctx, id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func taps(t *testing.T, h *host, id string) (audio, video *gsttest.Collector) {
	t.Helper()
	s, err := h.srv.Sessions.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	all := func(int) bool { return true }
	return gsttest.Collect(t, s.Pipeline(), "atap", all), gsttest.Collect(t, s.Pipeline(), "vtap", all)
}

func tone(n int) []byte {
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(3000+(i*37)%5000)))
	}
	return b
}

func frames(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		binary.LittleEndian.PutUint64(out[i], uint64(i+1))
	}
	return out
}

// waitEvent returns the first event of type typ, failing on an error event or timeout.
func waitEvent(t *testing.T, s *client.Session, typ string, timeout time.Duration) client.Event {
	t.Helper()
	e := waitEventOrError(t, s, typ, timeout)
	if e.Type == ingestproto.TypeError && typ != ingestproto.TypeError {
		t.Fatalf("error event waiting for %s: %s %s", typ, e.Code, e.Error)
	}
	return e
}

// waitEventOrError returns the first event of type typ or an error event, failing on
// timeout.
func waitEventOrError(t *testing.T, s *client.Session, typ string, timeout time.Duration) client.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				t.Fatalf("connection closed waiting for %s", typ)
			}
			if e.Type == typ || e.Type == ingestproto.TypeError {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", typ, timeout)
		}
	}
}

func TestFiveSecondUtteranceThroughTheGoClient(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	s := create(t, c, "talk")
	atap, vtap := taps(t, h, "talk")
	const rate, n = 24000, 5 * 24000
	wave := tone(n)
	fr := frames(125, 32*3*16)
	if err := s.Play(context.Background(), 1, wave, fr, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, s, ingestproto.TypeStarted, 3*time.Second)
	var last float64
	positions := 0
	var fin client.Event
	for fin.Type == "" {
		select {
		case e := <-s.Events():
			switch e.Type {
			case ingestproto.TypePosition:
				if e.PlayedMS < last {
					t.Fatalf("position went back: %v after %v", e.PlayedMS, last)
				}
				last = e.PlayedMS
				positions++
			case ingestproto.TypeFinished:
				fin = e
			case ingestproto.TypeError, ingestproto.TypeUnderrun:
				t.Fatalf("%s: %s %s", e.Type, e.Code, e.Error)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no finished event")
		}
	}
	if fin.PlayedSamples != n || positions < 15 {
		t.Fatalf("finished with %d samples after %d position events, want %d and ≥15", fin.PlayedSamples, positions, n)
	}
	// What the sources emitted is what was sent: the waveform sample for sample in
	// consecutive chunks, and frame i at T0 + i/25.
	if err := atap.WaitFor(len(atap.Bufs())+3, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	var got []byte
	var t0 time.Duration = -1
	for _, b := range atap.Bufs() {
		if t0 < 0 && binary.LittleEndian.Uint16(b.Data) != 0 {
			t0 = b.PTS
		}
		if t0 >= 0 && len(got) < len(wave) {
			got = append(got, b.Data...)
		}
	}
	if string(got[:len(wave)]) != string(wave) {
		t.Fatal("emitted audio differs from what was sent")
	}
	seen := 0
	for _, b := range vtap.Bufs() {
		if i := int64(binary.LittleEndian.Uint64(b.Data)) - 1; i >= 0 {
			if want := t0 + time.Duration(i)*40*time.Millisecond; b.PTS != want {
				t.Fatalf("frame %d at %v, want %v", i, b.PTS, want)
			}
			seen++
		}
	}
	if seen != 125 {
		t.Fatalf("%d frames emitted, want 125", seen)
	}
	t.Logf("T0 %v: 250 chunks and 125 frames as sent, %d position events", t0, positions)
}

func TestInterruptThroughTheAPI(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	s := create(t, c, "cut")
	atap, _ := taps(t, h, "cut")
	sess, _ := h.srv.Sessions.Get("cut")
	go s.Play(context.Background(), 7, tone(5*24000), nil, 5*time.Second)
	waitEvent(t, s, ingestproto.TypeStarted, 3*time.Second)
	waitEvent(t, s, ingestproto.TypePosition, 2*time.Second)
	at, _ := sess.Player().Audio.RunningTime()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, err := s.Interrupt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Utterance != 7 || e.PlayedSamples == 0 {
		t.Fatalf("interrupted event %+v", e)
	}
	// Let a few chunks past the cut arrive, counted by buffers, then look back.
	if err := atap.WaitFor(len(atap.Bufs())+5, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	var emitted int64
	var lastPTS time.Duration
	for _, b := range atap.Bufs() {
		n := 0
		for i := 0; i+1 < len(b.Data); i += 2 {
			if b.Data[i] != 0 || b.Data[i+1] != 0 {
				n++
			}
		}
		if n > 0 {
			emitted += int64(n)
			lastPTS = b.PTS
		}
	}
	if lastPTS >= at+20*time.Millisecond {
		t.Fatalf("utterance audio at %v, interrupt requested at %v", lastPTS, at)
	}
	if emitted != e.PlayedSamples {
		t.Fatalf("interrupted event says %d samples, %d were emitted", e.PlayedSamples, emitted)
	}
	t.Logf("interrupt at %v: last utterance chunk %v, played %.0f ms", at, lastPTS, e.PlayedMS)
}

func TestPagesHealthAndMetrics(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	create(t, c, "m")
	for path, want := range map[string]string{
		"/":        "<title>avhost</title>",
		"/healthz": "ok",
		"/metrics": `avhost_audio_chunks_total{session="m"}`,
	} {
		resp, err := http.Get(h.web + path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Fatalf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
}

// waitFor polls cond (state that changes on the host's own timers) until it holds.
func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// joinDemo joins the demo session as a headless Pion viewer, which leaves (WHEP
// DELETE, then close) when the test ends.
func joinDemo(ctx context.Context, t *testing.T, h *host) *webrtctest.Receiver {
	t.Helper()
	r, err := webrtctest.JoinWHEP(ctx, h.web+"/whep/demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", h.web+r.Location, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		r.Close()
	})
	return r
}
