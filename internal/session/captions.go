package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/avhost/avhost/internal/timeline"
)

// Speech events: what viewers are told of an utterance (docs/signaling.md, Speech
// events), each at the running time of the audio it belongs to, so an output can
// stamp it with that audio's RTP time and a page can show it when the audio plays,
// not when the message arrives. The driver's Events (events.go) say the same things
// to the model server, as they happen.

// SpeechKind says what a SpeechEvent reports.
type SpeechKind int

const (
	// SpeechStarted: the utterance's first sample is at At.
	SpeechStarted SpeechKind = iota + 1
	// SpeechWord: Word's audio starts at At.
	SpeechWord
	// SpeechFinished: the utterance's audio ends at At; Played is all of it.
	SpeechFinished
	// SpeechInterrupted: the utterance was cut; its audio (fade included) ends at
	// At, and Played is what the listener hears of it.
	SpeechInterrupted
)

var speechNames = [...]string{SpeechStarted: "speaking_started", SpeechWord: "word",
	SpeechFinished: "speaking_finished", SpeechInterrupted: "interrupted"}

func (k SpeechKind) String() string {
	if k > 0 && int(k) < len(speechNames) {
		return speechNames[k]
	}
	return "SpeechKind(?)"
}

// Word is a word (or segment) of an utterance's text and where its audio is, from
// the utterance's first sample.
type Word struct {
	Text       string
	Start, End time.Duration
}

// SpeechEvent is one thing viewers are told. Kind says which fields are set.
type SpeechEvent struct {
	Kind      SpeechKind
	Seq       uint64 // the session's count of speech events: increasing, so viewers see order
	Utterance uint32
	At        time.Duration     // running time of the audio it belongs to
	Index     int               // SpeechWord: the word's index in the utterance's text
	Word      Word              // SpeechWord
	Played    timeline.Position // SpeechFinished, SpeechInterrupted
}

// Words are told at most wordLookahead ahead of the played position, and at most
// wordsPerPoll per pass of the watch loop (every ≤ 50 ms, so 320 a second): a page
// gets them well before their audio (the network and its jitter buffer take 60 ms or
// more), and an utterance's 4096 words never land on a viewer's queue at once.
const (
	wordLookahead = time.Second
	wordsPerPoll  = 16
)

// MaxUtteranceWords caps the words one utterance may carry over all its captions.
const MaxUtteranceWords = 4096

// ErrCaption is returned for words a caption cannot take: past MaxUtteranceWords for
// the utterance, or starting before the utterance's last word (docs/ingest.md).
var ErrCaption = errors.New("session: bad caption")

// speech is a session's captions and speech-event watchers; guarded by Session.mu.
type speech struct {
	words    []Word // the playing utterance's text
	sent     int    // words already told
	last     time.Duration
	started  bool
	seq      uint64
	watchers map[int]func(SpeechEvent)
	nwatch   int
}

// OnSpeech registers f to get every speech event of the session, in order; f runs
// under the session's lock and must not block. cancel unregisters it.
func (s *Session) OnSpeech(f func(SpeechEvent)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sp.watchers == nil {
		s.sp.watchers = map[int]func(SpeechEvent){}
	}
	s.sp.nwatch++
	n := s.sp.nwatch
	s.sp.watchers[n] = f
	return func() {
		s.mu.Lock()
		delete(s.sp.watchers, n)
		s.mu.Unlock()
	}
}

// Caption adds words to the text of utterance id. Their starts must not go back,
// within the call or from the utterance's words so far. A word is told to viewers
// once its audio has arrived (then its time can no longer move: see speechProgress).
func (s *Session) Caption(id uint32, words []Word) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.utt == nil || s.uttID != id {
		return fmt.Errorf("%w: %d", ErrNoUtterance, id)
	}
	if len(s.sp.words)+len(words) > MaxUtteranceWords {
		return fmt.Errorf("%w: more than %d words in utterance %d", ErrCaption, MaxUtteranceWords, id)
	}
	last := s.sp.last
	for i, w := range words {
		if w.End < w.Start {
			return fmt.Errorf("%w: word %d ends before it starts", ErrCaption, i)
		}
		if w.Start < last {
			return fmt.Errorf("%w: word %d starts before the word ahead of it", ErrCaption, i)
		}
		last = w.Start
	}
	s.sp.words = append(s.sp.words, words...)
	s.sp.last = last
	return nil
}

// speechBegin resets the captions for a new utterance; s.mu is held.
func (s *Session) speechBegin() {
	s.sp.words, s.sp.sent, s.sp.last, s.sp.started = nil, 0, 0, false
}

// tell hands e to every speech watcher; s.mu is held, so events of the watch loop and
// of Interrupt reach them in one order, the order of Seq.
func (s *Session) tell(e SpeechEvent) {
	s.sp.seq++
	e.Seq = s.sp.seq
	for _, f := range s.sp.watchers {
		f(e)
	}
}

// speechProgress tells what the utterance's audio has reached; s.mu is held. A
// moment in the utterance (a word's start) is told once its sample has arrived
// (played or queued): an underrun only ever inserts silence after the queued audio,
// so from then on the sample's running time is T0 + Delay + offset for good. T0 itself
// is final once the stream has emitted a chunk (a live source moves a queued
// utterance's anchor only at its start, timeline.Audio.SeekTo).
func (s *Session) speechProgress(u *timeline.Utterance, id uint32, st timeline.AudioStats) {
	if st.Chunks == 0 {
		return
	}
	queued := st.QueuedSamples
	pos := u.Position()
	have := pos.Samples + queued
	rate := time.Duration(s.cfg.Rate)
	ahead := min(have, pos.Samples+int64(wordLookahead*rate/time.Second))
	if !s.sp.started && have > 0 {
		s.sp.started = true
		s.tell(SpeechEvent{Kind: SpeechStarted, Utterance: id, At: u.T0() + u.Delay()})
	}
	if s.sp.started {
		base := u.T0() + u.Delay()
		for n := 0; n < wordsPerPoll && s.sp.sent < len(s.sp.words); n, s.sp.sent = n+1, s.sp.sent+1 {
			w := s.sp.words[s.sp.sent]
			if int64(w.Start*rate/time.Second) >= ahead {
				break
			}
			s.tell(SpeechEvent{Kind: SpeechWord, Utterance: id, At: base + w.Start, Index: s.sp.sent, Word: w})
		}
	}
	if u.State() == timeline.Finished {
		end, _ := u.End()
		s.tell(SpeechEvent{Kind: SpeechFinished, Utterance: id, At: end, Played: pos})
		s.sp.words = nil // words past the end of the audio are never heard
	}
}

// speechCut tells an interrupt (or, when the utterance had just finished, its end);
// s.mu is held.
func (s *Session) speechCut(u *timeline.Utterance, id uint32, pos timeline.Position, cut bool) {
	k := SpeechInterrupted
	if !cut {
		k, pos = SpeechFinished, u.Position()
	}
	end, ok := u.End()
	if !ok { // the sources could not be reached: where its audio would have stopped
		end = u.T0() + u.Delay() + pos.Played
	}
	s.tell(SpeechEvent{Kind: k, Utterance: id, At: end, Played: pos})
	s.sp.words = nil
}
