package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// speechLog collects a session's speech events without ever blocking the session.
func speechLog(t *testing.T, s *session.Session) <-chan session.SpeechEvent {
	ch := make(chan session.SpeechEvent, 64)
	cancel := s.OnSpeech(func(e session.SpeechEvent) {
		select {
		case ch <- e:
		default:
			t.Error("speech log full")
		}
	})
	t.Cleanup(cancel)
	return ch
}

func next(t *testing.T, ch <-chan session.SpeechEvent) session.SpeechEvent {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no speech event within 5 s")
		return session.SpeechEvent{}
	}
}

func TestSpeechEventsCarryTheRunningTimeOfTheirAudio(t *testing.T) {
	gsttest.Init()
	m := &session.Manager{}
	defer m.CloseAll()
	s, err := m.Create(session.Config{ID: "cap", Width: 64, Height: 64})
	if err != nil {
		t.Fatal(err)
	}
	rate := s.Config().Rate
	f := pcm.Format{Type: pcm.S16, Rate: rate, Channels: 1}
	log := speechLog(t, s)
	// A live source moves a queued utterance's anchor once, when it starts: begin
	// after that, so T0 read at Begin is final.
	for s.Stats().Audio.Chunks == 0 {
		time.Sleep(5 * time.Millisecond) // polling the pipeline's start
	}

	t.Run("words are told at their offsets from the utterance's anchor, in order", func(t *testing.T) {
		if err := s.Begin(1, f, -1); err != nil {
			t.Fatal(err)
		}
		t0 := s.Current().T0()
		words := []session.Word{{"one", 0, 90 * time.Millisecond}, {"two", 100 * time.Millisecond, 250 * time.Millisecond},
			{"three", 300 * time.Millisecond, 480 * time.Millisecond}, {"never", 900 * time.Millisecond, time.Second}}
		if err := s.Caption(1, words[:2]); err != nil {
			t.Fatal(err)
		}
		if err := s.Caption(1, words[2:]); err != nil {
			t.Fatal(err)
		}
		if err := s.Caption(1, []session.Word{{"back", 10 * time.Millisecond, 20 * time.Millisecond}}); !errors.Is(err, session.ErrCaption) {
			t.Fatalf("a word going back: %v", err)
		}
		s.Audio(1, make([]byte, 2*rate/2)) // 500 ms
		s.End(1)
		want := []session.SpeechEvent{
			{Kind: session.SpeechStarted, At: t0},
			{Kind: session.SpeechWord, At: t0, Index: 0, Word: words[0]},
			{Kind: session.SpeechWord, At: t0 + 100*time.Millisecond, Index: 1, Word: words[1]},
			{Kind: session.SpeechWord, At: t0 + 300*time.Millisecond, Index: 2, Word: words[2]},
			{Kind: session.SpeechFinished, At: t0 + 500*time.Millisecond}, // "never" is past the audio
		}
		var seq uint64
		for _, w := range want {
			e := next(t, log)
			if e.Kind != w.Kind || e.At != w.At || e.Index != w.Index || e.Word != w.Word || e.Utterance != 1 {
				t.Fatalf("got %v at %v (%+v), want %v at %v (%+v)", e.Kind, e.At, e.Word, w.Kind, w.At, w.Word)
			}
			if e.Seq <= seq {
				t.Fatalf("seq %d after %d", e.Seq, seq)
			}
			seq = e.Seq
		}
	})

	t.Run("an interrupt is told with the played position and where the audio stops", func(t *testing.T) {
		if err := s.Begin(2, f, -1); err != nil {
			t.Fatal(err)
		}
		s.Audio(2, make([]byte, 2*rate*2)) // 2 s
		if e := next(t, log); e.Kind != session.SpeechStarted {
			t.Fatalf("got %v", e.Kind)
		}
		for s.Current().Position().Samples < int64(rate/5) { // 200 ms played
			time.Sleep(10 * time.Millisecond) // polling the pipeline's progress
		}
		u := s.Current()
		_, pos, ok := s.Interrupt()
		if !ok {
			t.Fatal("nothing interrupted")
		}
		e := next(t, log)
		end, _ := u.End()
		if e.Kind != session.SpeechInterrupted || e.Played != pos || e.At != end || e.Utterance != 2 {
			t.Fatalf("got %+v, want interrupted at %v with %+v", e, end, pos)
		}
		if e.At != u.T0()+pos.Played {
			t.Fatalf("the cut at %v is not T0 %v + played %v", e.At, u.T0(), pos.Played)
		}
	})

	t.Run("an utterance's words are capped", func(t *testing.T) {
		if err := s.Begin(3, f, -1); err != nil {
			t.Fatal(err)
		}
		defer s.Interrupt()
		many := make([]session.Word, session.MaxUtteranceWords)
		for i := range many {
			many[i] = session.Word{Text: "w", Start: time.Duration(i) * time.Millisecond, End: time.Duration(i) * time.Millisecond}
		}
		if err := s.Caption(3, many); err != nil {
			t.Fatal(err)
		}
		if err := s.Caption(3, many[len(many)-1:]); !errors.Is(err, session.ErrCaption) {
			t.Fatalf("word %d: %v", session.MaxUtteranceWords+1, err)
		}
		if err := s.Caption(4, many[:1]); !errors.Is(err, session.ErrNoUtterance) {
			t.Fatalf("another utterance's words: %v", err)
		}
	})
}
