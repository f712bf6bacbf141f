package server_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
	"github.com/avhost/avhost/internal/timeline"
)

// The marker clip: 128×128 BGR frames on a grid of 16×16 blocks. Clip frame k has the
// top-left block white, the top-right one black and k in binary in the bottom row
// (bit b in block b). The pulse pattern's frames are all white or all black, so every
// displayed frame says whether it is the loop's (and which) or the utterance's.
const (
	markSide  = 128
	markBlock = 16
	markClipN = 50 // 2 s at 25 fps
)

func markerClip() [][]byte {
	stride := markSide * 3
	clip := make([][]byte, markClipN)
	for k := range clip {
		f := make([]byte, stride*markSide)
		fill := func(bx, by int) {
			for y := by * markBlock; y < (by+1)*markBlock; y++ {
				for x := bx * markBlock * 3; x < (bx+1)*markBlock*3; x++ {
					f[y*stride+x] = 255
				}
			}
		}
		fill(0, 0)
		for b := 0; b < 8; b++ {
			if k>>b&1 == 1 {
				fill(b, markSide/markBlock-1)
			}
		}
		clip[k] = f
	}
	return clip
}

// markRecorder records, for every frame Chromium displays (requestVideoFrameCallback),
// its display time and what it shows, read from the block centres.
const markRecorder = `(() => {
  const v = document.querySelector('video');
  const c = document.createElement('canvas'); c.width = c.height = 128;
  const x = c.getContext('2d', {willReadFrequently: true});
  window.idleMarks = [];
  const on = (now, meta) => {
    x.drawImage(v, 0, 0, 128, 128);
    const d = x.getImageData(0, 0, 128, 128).data;
    const w = (bx, by) => d[((by * 16 + 8) * 128 + bx * 16 + 8) * 4 + 1] > 128;
    let k = 0;
    for (let b = 0; b < 8; b++) if (w(b, 7)) k |= 1 << b;
    const kind = w(7, 0) ? 'white' : w(0, 0) ? 'clip' : 'black';
    window.idleMarks.push({t: performance.timeOrigin + meta.expectedDisplayTime, kind, k});
    v.requestVideoFrameCallback(on);
  };
  v.requestVideoFrameCallback(on);
  return true;
})()`

type idleMark struct {
	T    float64 `json:"t"` // wall ms
	Kind string  `json:"kind"`
	K    int     `json:"k"`
}

func idleMarksOf(t *testing.T, ctx context.Context) []idleMark {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Evaluate[[]idleMark](`window.idleMarks`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitClipFrames waits until the page has displayed n clip frames after wall time
// after (ms). Polling the page's own state is the sync; ctx bounds it.
func waitClipFrames(t *testing.T, ctx context.Context, after float64, n int) {
	t.Helper()
	for {
		got := 0
		for _, m := range idleMarksOf(t, ctx) {
			if m.T > after && m.Kind == "clip" {
				got++
			}
		}
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the page showed %d loop frames after the utterance, want %d", got, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// uploadIdleClip creates session id over ingest and uploads clip as its idle clip,
// the way a model server does; it returns once the server says the clip shows. The
// connection's messages are drained until the test ends.
func uploadIdleClip(t *testing.T, h *host, id string, clip [][]byte) {
	t.Helper()
	ws, _, err := rawDial(t, h, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan ingestproto.Message, 1024)
	go func() { // ends when the test closes the connection
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				close(msgs)
				return
			}
			var m ingestproto.Message
			if json.Unmarshal(b, &m) == nil {
				select {
				case msgs <- m:
				default: // nobody reads after the upload: events are dropped here
				}
			}
		}
	}()
	await := func(typ string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("connection closed waiting for %s", typ)
				}
				if m.Type == ingestproto.TypeError {
					t.Fatalf("waiting for %s: error %s: %s", typ, m.Code, m.Error)
				}
				if m.Type == typ {
					return
				}
			case <-deadline:
				t.Fatalf("no %s", typ)
			}
		}
	}
	send := func(typ int, b []byte) {
		t.Helper()
		if err := ws.WriteMessage(typ, b); err != nil {
			t.Fatal(err)
		}
	}
	create, _ := json.Marshal(ingestproto.Message{Type: ingestproto.TypeCreate, Session: id,
		Video: &ingestproto.VideoFormat{Width: markSide, Height: markSide, FPS: "25", Format: "BGR"}})
	send(websocket.TextMessage, create)
	await(ingestproto.TypeCreated)
	begin, _ := json.Marshal(ingestproto.Message{Type: ingestproto.TypeIdleClip, Session: id, Frames: int64(len(clip))})
	send(websocket.TextMessage, begin)
	for k, f := range clip {
		send(websocket.BinaryMessage, ingestproto.AppendBinary(nil, ingestproto.Binary{Kind: ingestproto.KindIdleClip, Session: id, Index: uint64(k), Payload: f}))
	}
	await(ingestproto.TypeIdleClipShown)
}

// TestIdleLoopSeamsInChromium is the idle loop as a viewer sees it: a session loops a
// 50-frame marker clip, plays the flash+beep pattern in five utterances that end and
// one that is interrupted, and Chromium records every frame it displays. At each seam
// (loop → utterance, utterance → loop) no frame stays on screen longer than two frame
// periods, the loop comes back on the clip frame after the last one shown before the
// utterance (the documented phase rule: it resumes where it stopped; a frame Chromium
// skips may make that two or three on), its phase never goes back, and the
// utterances' flash/beep offset stays within the lip-sync test's bound. Chromium skips
// a loop frame now and then away from the seams too, mostly the loop's frame 0: the
// 2 s key-frame interval puts it on a large IDR frame.
func TestIdleLoopSeamsInChromium(t *testing.T) {
	testenv.RequireBrowser(t)
	h := startHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: markSide, Height: markSide}
	})
	const id = "idle"
	uploadIdleClip(t, h, id, markerClip())
	ctx, _ := browserKill(t, 90*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?measure=1&via=whep&session="+id+"#token="+token)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 })
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](markRecorder)); err != nil || !ok {
		t.Fatalf("frame recorder: %v", err)
	}
	waitClipFrames(t, ctx, 0, 2*markClipN) // the loop has gone round twice
	sess, err := h.srv.Sessions.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.srv.Stream(id)
	if err != nil {
		t.Fatal(err)
	}
	wall := func(rt time.Duration) float64 { return float64(out.WallTime(rt).UnixNano()) / 1e6 }
	type span struct{ from, to float64 }
	var utts []span
	for n := uint32(1); n <= 6; n++ {
		u, err := demo.PlayPulses(ctx, sess, n, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 6 { // cut the last one halfway, between its two pulses
			for u.Position().Played < 1300*time.Millisecond && u.State() <= timeline.Playing {
				select {
				case <-ctx.Done():
					t.Fatal("the utterance never played 1.3 s")
				case <-time.After(20 * time.Millisecond):
				}
			}
			if _, _, ok := sess.Interrupt(); !ok {
				t.Fatal("nothing to interrupt")
			}
		}
		select {
		case <-u.Done():
		case <-ctx.Done():
			t.Fatal("the utterance never ended")
		}
		end, _ := u.End()
		utts = append(utts, span{wall(u.T0()), wall(end)})
		waitClipFrames(t, ctx, wall(end), 30)
	}

	marks := idleMarksOf(t, ctx)
	const period = 40.0 // ms
	// Seams: where the displayed frames change between the loop and the utterance.
	var seamGaps []float64
	resumes, skipped := 0, 0
	lastClip := -1
	for i := 1; i < len(marks); i++ {
		prev, cur := marks[i-1], marks[i]
		if (prev.Kind == "clip") != (cur.Kind == "clip") {
			// The longest a frame stayed up around the seam, two frames either side.
			worst := 0.0
			for j := max(1, i-2); j <= min(len(marks)-1, i+2); j++ {
				worst = math.Max(worst, marks[j].T-marks[j-1].T)
			}
			seamGaps = append(seamGaps, worst)
		}
		if cur.Kind != "clip" {
			continue
		}
		if lastClip >= 0 {
			// d frames on in the loop; more than half the loop on is a jump back.
			d := (cur.K - lastClip + markClipN) % markClipN
			switch {
			case d == 0 || d > markClipN/2:
				t.Errorf("at %.0f ms the loop went back from clip frame %d to %d", cur.T-marks[0].T, lastClip, cur.K)
			case prev.Kind != "clip":
				resumes++
				t.Logf("seam back to the loop at %.0f ms: clip frame %d after %d (+%d)", cur.T-marks[0].T, cur.K, lastClip, d)
				if d > 3 {
					t.Errorf("the loop came back %d frames on from where it stopped, want the next (two skipped at most)", d)
				}
			case d > 1: // inside the loop: frames Chromium did not display
				skipped += d - 1
				t.Logf("at %.0f ms Chromium skipped %d loop frames (%d → %d, %.0f ms apart)", cur.T-marks[0].T, d-1, lastClip, cur.K, cur.T-prev.T)
			}
		}
		lastClip = cur.K
	}
	if resumes < 6 || len(seamGaps) < 12 {
		t.Fatalf("%d returns to the loop and %d seams seen in %d displayed frames, want 6 and 12", resumes, len(seamGaps), len(marks))
	}
	t.Logf("%d displayed frames, %d seams: longest frame on screen at a seam %.1f ms (median %.1f ms; a frame period is %.0f ms); %d loop frames skipped by Chromium away from the seams",
		len(marks), len(seamGaps), pct(seamGaps, 1), pct(seamGaps, 0.5), period, skipped)
	for _, g := range seamGaps {
		if g > 2*period {
			t.Errorf("a frame stayed on screen %.1f ms at a seam: a stall of more than two frame periods", g)
		}
	}

	// Lip sync of the utterances: the flash/beep pairs of each, as TestLipSyncInChromium.
	m, err := marksOf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var offsets []float64
	for _, u := range utts {
		var fl []float64
		for _, f := range m.Flashes {
			if f >= u.from-100 && f < u.to+300 {
				fl = append(fl, f)
			}
		}
		o, _ := pairOffsets(fl, m.Beeps, u.from)
		offsets = append(offsets, o...)
	}
	if len(offsets) < 9 {
		t.Fatalf("only %d flash/beep pairs in 6 utterances: flashes %v beeps %v", len(offsets), m.Flashes, m.Beeps)
	}
	t.Logf("A/V offset over %d pulses in 6 utterances (beep minus flash): median %+.1f ms, p95 |offset| %.1f ms",
		len(offsets), pct(offsets, 0.5), pct(abs(offsets), 0.95))
	if med := math.Abs(pct(offsets, 0.5)); med > 45 {
		t.Fatalf("median flash/beep offset %.1f ms exceeds the 45 ms detectability bound (ITU-R BT.1359)", med)
	}
}
