package server_test

import (
	"encoding/binary"
	"math"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// pageSpeech is what the page (speech.js, measure.js) recorded.
type pageSpeech struct {
	Words []struct {
		Text      string  `json:"text"`
		Utterance uint32  `json:"utterance"`
		RTP       float64 `json:"rtp"`
		Shown     float64 `json:"shown"` // epoch ms
	} `json:"words"`
	Events []struct {
		Type      string   `json:"type"`
		Seq       uint64   `json:"seq"`
		Utterance uint32   `json:"utterance"`
		RTP       *float64 `json:"rtp"`
		PlayedMS  float64  `json:"played_ms"`
	} `json:"events"`
	Beeps []float64 `json:"beeps"` // heard from the <video> element, epoch ms
}

const pageSpeechJS = `({words: window.avhostWords, events: window.avhostEvents, beeps: window.avhostSync.beeps})`

// beepWords is an utterance of n words, each a 60 ms 1 kHz beep at its start and
// silence between: the page hears each word's audio (measure.js detector) and shows
// its text (speech.js), and the test compares the two times.
func beepWords(rate, n int, gap time.Duration) ([]byte, []session.Word) {
	total := time.Duration(n+1) * gap
	pcmb := make([]byte, 2*int(int64(total)*int64(rate)/int64(time.Second)))
	var words []session.Word
	for k := 0; k < n; k++ {
		start := time.Duration(k+1) * gap
		words = append(words, session.Word{Text: "w" + string(rune('a'+k)), Start: start, End: start + 60*time.Millisecond})
		s0 := int(int64(start) * int64(rate) / int64(time.Second))
		for i := 0; i < rate*60/1000; i++ {
			v := int16(16000 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate)))
			binary.LittleEndian.PutUint16(pcmb[2*(s0+i):], uint16(v))
		}
	}
	return pcmb, words
}

// TestCaptionsInChromium: the words of an utterance appear on the page when their
// audio is heard (goal: median within 20 ms), over the data channel (WHEP) and over
// /ws; events arrive in order, and an interrupt is told with the played position.
func TestCaptionsInChromium(t *testing.T) {
	testenv.RequireBrowser(t)
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128}
	})
	ctx, _ := browserKill(t, 3*time.Minute)
	sess, _ := h.srv.Sessions.Get("demo")
	rate := sess.Config().Rate
	f := pcm.Format{Type: pcm.S16, Rate: rate, Channels: 1}
	read := func() pageSpeech {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[pageSpeech](pageSpeechJS))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	until := func(what string, cond func(pageSpeech) bool) pageSpeech {
		deadline := time.Now().Add(20 * time.Second)
		for {
			p := read()
			if cond(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s (%d words, %d events, %d beeps)", what, len(p.Words), len(p.Events), len(p.Beeps))
			}
			time.Sleep(50 * time.Millisecond) // polling the page's own record
		}
	}
	uid := uint32(100)
	for _, via := range []string{"whep", "ws"} {
		t.Run("via "+via, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?measure=1&via="+via+"#token="+token)); err != nil {
				t.Fatal(err)
			}
			waitStats(t, ctx, func(st pageStats) bool { return st.AudioSamples > 48000 })
			// Words 470 ms apart, 28.2 frame periods at 60 Hz: each word of an utterance
			// meets the display's vsync at another phase (at 450 ms, a whole 27 periods,
			// all six met it at one, and the median of two utterances was two draws of
			// that phase). Three utterances: NetEq may move the audio between them.
			const gap = 470 * time.Millisecond
			var errs []float64
			for round := 0; round < 3; round++ {
				uid++
				id := uid
				audio, words := beepWords(rate, 6, gap)
				before := read()
				if err := sess.Begin(id, f, -1); err != nil {
					t.Fatal(err)
				}
				if err := sess.Caption(id, words); err != nil {
					t.Fatal(err)
				}
				sess.Audio(id, audio)
				sess.End(id)
				p := until("speaking_finished", func(p pageSpeech) bool {
					for _, e := range p.Events {
						if e.Type == "speaking_finished" && e.Utterance == id {
							return true
						}
					}
					return false
				})
				// The last word and its beep come before the end of the audio; give the
				// page the rest of it to show them.
				p = until("every word shown", func(p pageSpeech) bool { return len(p.Words) >= len(before.Words)+len(words) })
				beeps := p.Beeps[len(before.Beeps):]
				shown := p.Words[len(before.Words):]
				for _, w := range shown {
					// The beep heard nearest the word's showing is its own: they are 470 ms apart.
					best := math.Inf(1)
					for _, b := range beeps {
						if math.Abs(w.Shown-b) < math.Abs(best) {
							best = w.Shown - b
						}
					}
					errs = append(errs, best)
				}
				checkOrder(t, p, before, id, len(words), float64(7*gap/time.Millisecond))
			}
			med := pct(abs(errs), 0.5)
			t.Logf("via %s: word shown − its audio heard, %d words: median |%.1f| ms, p95 |%.1f| ms, load average %s (%.1f)", via, len(errs), med, pct(abs(errs), 0.95), loadAvg(), errs)
			// What is left of the error, none of which the page can see: the frame a
			// word can go in (±8.3 ms at 60 Hz), where NetEq put the decoded packet in
			// its 10 ms frame (±5 ms) and the detector's own lag (±6 ms from one page
			// load to the next; speech.js heardAfterMs). Issue 13's 20 ms held in 24 of
			// 24 page loads with the host's load average up to 30, but not on a host
			// starved further (load 30-43: /ws medians 43 and 35 ms in 2 of 11 runs,
			// words in animation frames 15-185 ms late), so the goal is a figure for
			// make bench (AVHOST_CAPTIONS_GOAL=1); make test holds 60 ms.
			limit := 60.0
			if os.Getenv("AVHOST_CAPTIONS_GOAL") != "" {
				limit = 20
			}
			if med > limit {
				t.Errorf("via %s: words shown a median %.1f ms from their audio, limit %.0f ms (load average %s)", via, med, limit, loadAvg())
			}

			// An interrupt: told in order with the played position; words after the
			// cut are never shown.
			uid++
			id := uid
			audio, words := beepWords(rate, 6, 450*time.Millisecond)
			before := read()
			sess.Begin(id, f, -1)
			sess.Caption(id, words)
			sess.Audio(id, audio)
			until("two words", func(p pageSpeech) bool { return len(p.Words) >= len(before.Words)+2 })
			_, pos, ok := sess.Interrupt()
			if !ok {
				t.Fatal("nothing to interrupt")
			}
			p := until("interrupted", func(p pageSpeech) bool {
				return len(p.Events) > 0 && p.Events[len(p.Events)-1].Type == "interrupted"
			})
			last := p.Events[len(p.Events)-1]
			if last.Utterance != id || math.Abs(last.PlayedMS-float64(pos.Played)/1e6) > 0.5 {
				t.Fatalf("interrupted %+v, want utterance %d played %v", last, id, pos.Played)
			}
			time.Sleep(time.Second) // words scheduled past the cut would show in this second
			p = read()
			n := len(p.Words) - len(before.Words)
			if heard := int((pos.Played - 450*time.Millisecond) / (450 * time.Millisecond)); n > heard+1 {
				t.Fatalf("%d words shown after a cut at %v (%d started before it)", n, pos.Played, heard+1)
			}
		})
	}
}

// checkOrder: the page took utterance id's events in order: speaking_started, its
// words, speaking_finished with all of its audio played, seq rising.
func checkOrder(t *testing.T, p, before pageSpeech, id uint32, words int, totalMS float64) {
	t.Helper()
	var types []string
	var seq uint64
	var played float64
	for _, e := range p.Events[len(before.Events):] {
		if e.Utterance != id {
			continue
		}
		if e.Seq <= seq {
			t.Fatalf("seq %d after %d", e.Seq, seq)
		}
		seq = e.Seq
		if e.RTP == nil {
			t.Fatalf("%s without rtp", e.Type)
		}
		types = append(types, e.Type)
		played = e.PlayedMS
	}
	want := []string{"speaking_started"}
	for i := 0; i < words; i++ {
		want = append(want, "word")
	}
	want = append(want, "speaking_finished")
	if len(types) != len(want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("events %v, want %v", types, want)
		}
	}
	if math.Abs(played-totalMS) > 20 {
		t.Fatalf("speaking_finished played %.1f ms, want %.0f", played, totalMS)
	}
}
