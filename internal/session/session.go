// Package session runs avhost sessions: one avatar stream each, a pipeline with a
// singleframesrc and a pcmslicesrc, its encoders and outputs, and the utterance that is
// playing. The Manager creates, lists and tears them down.
//
// A session speaks in its own terms: Events (events.go) and errors of the kinds in
// errors.go. Translating them to a wire protocol is the driver's business (ingest), so
// this package imports none.
//
// Everything that goes into the sources (utterances, audio, frames, the idle frame,
// interrupts) takes one route, the session's player.Player, and the session only uses
// its never-waiting methods: a driver reading the network for many sessions is never
// held up by one session's full queue, whatever the pipeline's elements say.
//
// Lock order: Manager.mu, then Session.mu. Neither is held across a GStreamer state
// change or a wait on the bus.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/elements/pcmslicesrc"
	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/player"
	"github.com/avhost/avhost/internal/timeline"
	"github.com/avhost/avhost/pipelines"
)

// Stats are a session's counters, for metrics.
type Stats struct {
	Audio      timeline.AudioStats
	Video      timeline.VideoStats
	Utterances uint64
	Interrupts uint64
	LagMS      float64 // audio received but not yet played, in ms
}

// Session is one avatar stream.
type Session struct {
	ID    string
	Token string // resume token

	cfg Config
	p   *gst.Pipeline
	pl  *player.Player // the one route into the sources
	log *slog.Logger

	mu         sync.Mutex
	closed     bool
	utt        *timeline.Utterance
	uttID      uint32
	started    bool
	underruns  uint64
	utterances uint64
	interrupts uint64
	onEvent    func(Event)
	watchers   map[int]func()
	nwatch     int
	closers    []func()
	clip       idleClip // idle_clip.go
	sp         speech   // captions and speech-event watchers (captions.go)

	stop chan struct{}
	done chan struct{}
}

const stateTimeout = 5 * time.Second

func newSession(cfg Config, log *slog.Logger) (*Session, error) {
	desc, err := render(cfg.Pipeline, cfg)
	if err != nil {
		return nil, err
	}
	p, err := gst.NewPipelineFromString(desc)
	if err != nil {
		return nil, fmt.Errorf("session %s: pipeline: %w", cfg.ID, err)
	}
	s := &Session{ID: cfg.ID, Token: newToken(), cfg: cfg, p: p, log: log.With("session", cfg.ID),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := s.bind(); err != nil {
		p.SetState(gst.StateNull)
		return nil, err
	}
	if err := s.setState(gst.StatePlaying); err != nil {
		p.SetState(gst.StateNull)
		return nil, err
	}
	go s.watch()
	return s, nil
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Session) bind() error {
	ve, err := s.p.GetElementByName(pipelines.Video)
	if err != nil {
		return fmt.Errorf("session %s: pipeline has no singleframesrc named video", s.ID)
	}
	ae, err := s.p.GetElementByName(pipelines.Audio)
	if err != nil {
		return fmt.Errorf("session %s: pipeline has no pcmslicesrc named audio", s.ID)
	}
	v, err := singleframesrc.FromElement(ve)
	if err != nil {
		return err
	}
	a, err := pcmslicesrc.FromElement(ae)
	if err != nil {
		return err
	}
	s.pl = &player.Player{Audio: a, Video: v, Lead: s.cfg.Lead}
	_, err = a.Timeline() // fixes the audio format now: a bad one fails the create
	return err
}

// setState changes state and waits for it, failing with ErrFrozen after stateTimeout.
func (s *Session) setState(st gst.State) error {
	if err := s.p.SetState(st); err != nil {
		return fmt.Errorf("session %s: set %s: %w%s", s.ID, st, err, s.busError())
	}
	ret, cur := s.p.GetState(st, gst.ClockTime(stateTimeout))
	if ret == gst.StateChangeFailure {
		return fmt.Errorf("session %s: set %s failed%s", s.ID, st, s.busError())
	}
	if cur != st {
		return fmt.Errorf("%w: session %s stuck in %s on the way to %s", ErrFrozen, s.ID, cur, st)
	}
	return nil
}

func (s *Session) busError() string {
	if msg := s.p.GetPipelineBus().Pop(); msg != nil && msg.Type() == gst.MessageError {
		return ": " + msg.ParseError().Error()
	}
	return ""
}

// Pipeline is the session's pipeline, for outputs and tests to attach to.
func (s *Session) Pipeline() *gst.Pipeline { return s.p }

// Player is the session's route into its sources, for outputs and tests that read its
// running time. Drive the session through its own methods, which never wait.
func (s *Session) Player() *player.Player { return s.pl }

// Config returns the session's filled configuration.
func (s *Session) Config() Config { return s.cfg }

// SetEventHandler sets where events go (nil: nowhere). It must not block.
func (s *Session) SetEventHandler(f func(Event)) {
	s.mu.Lock()
	s.onEvent = f
	s.mu.Unlock()
}

// emit hands e to the event handler; s.mu must not be held.
func (s *Session) emit(e Event) {
	e.Session = s.ID
	s.mu.Lock()
	f := s.onEvent
	s.mu.Unlock()
	if f != nil {
		f(e)
	}
}

// Begin starts utterance id with audio in format f; frames is its frame count, or
// -1 when not known.
func (s *Session) Begin(id uint32, f pcm.Format, frames int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if frames == 0 {
		frames = -1
	}
	u, err := s.pl.Begin(0, f, frames)
	if err != nil {
		return classify(err)
	}
	s.utt, s.uttID, s.started = u, id, false
	s.speechBegin()
	s.underruns = s.pl.Stats().Audio.Underruns
	s.utterances++
	return nil
}

func (s *Session) current(id uint32) (*timeline.Utterance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.utt == nil || s.uttID != id {
		return nil, fmt.Errorf("%w: %d", ErrNoUtterance, id)
	}
	return s.utt, nil
}

// Current returns the playing utterance, or nil.
func (s *Session) Current() *timeline.Utterance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.utt
}

// AudioFormat is the PCM format of an utterance whose audio comes at rate Hz with
// channels channels of sample type sample ("s16" or "f32"); a zero or empty value
// takes the session's. A format avhost does not convert is ErrBadAudio.
func (s *Session) AudioFormat(rate, channels int, sample string) (pcm.Format, error) {
	f := pcm.Format{Type: pcm.S16, Rate: s.cfg.Rate, Channels: s.cfg.Channels}
	if rate != 0 {
		f.Rate = rate
	}
	if channels != 0 {
		f.Channels = channels
	}
	if sample != "" {
		t, err := pcm.ParseSampleType(sample)
		if err != nil {
			return f, classify(err)
		}
		f.Type = t
	}
	return f, classify(f.Validate())
}

// Audio queues a PCM slice of utterance id. It never blocks, whatever the pipeline's
// pcmslicesrc is configured to do: past MaxQueue the whole slice is refused with
// ErrQueueFull and counted (Stats.Audio.Rejected).
func (s *Session) Audio(id uint32, raw []byte) error {
	u, err := s.current(id)
	if err != nil {
		return err
	}
	return classify(s.pl.OfferAudio(u, raw))
}

// Frame queues frame i of utterance id (raw in the session's format, or JPEG/PNG). It
// never blocks: past MaxFrames the frame is refused with ErrQueueFull; a frame after
// its time is ErrLate.
func (s *Session) Frame(id uint32, i int64, data []byte) error {
	u, err := s.current(id)
	if err != nil {
		return err
	}
	if data, err = s.decode(data); err != nil {
		return err
	}
	return classify(s.pl.OfferFrame(u, i, data))
}

// Idle replaces the idle frame (or idle clip).
func (s *Session) Idle(data []byte) error {
	data, err := s.decode(data)
	if err != nil {
		return err
	}
	if err := s.pl.SetIdle(data); err != nil {
		return classify(err)
	}
	s.clipReplaced()
	return nil
}

// End says utterance id has no more audio.
func (s *Session) End(id uint32) error {
	u, err := s.current(id)
	if err != nil {
		return err
	}
	return classify(s.pl.End(u))
}

// Interrupt cuts the playing utterance and returns what of it was emitted.
func (s *Session) Interrupt() (id uint32, pos timeline.Position, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.utt == nil {
		return 0, pos, false
	}
	pos, ok = s.pl.Interrupt()
	id = s.uttID
	s.speechCut(s.utt, id, pos, ok)
	s.utt = nil
	s.interrupts++
	for _, f := range s.watchers {
		f()
	}
	return id, pos, ok
}

// OnInterrupt registers f to run at every interrupt, so viewers can silence the audio
// already on its way to them; f must not block. cancel unregisters it.
func (s *Session) OnInterrupt(f func()) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers == nil {
		s.watchers = map[int]func(){}
	}
	s.nwatch++
	n := s.nwatch
	s.watchers[n] = f
	return func() {
		s.mu.Lock()
		delete(s.watchers, n)
		s.mu.Unlock()
	}
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pl.Stats()
	st := Stats{Audio: ps.Audio, Video: ps.Video, Utterances: s.utterances, Interrupts: s.interrupts}
	st.LagMS = float64(st.Audio.QueuedSamples) * 1000 / float64(s.cfg.Rate)
	return st
}

// OnClose registers f to run when the session closes, before its pipeline stops
// (outputs detach there).
func (s *Session) OnClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, f)
}

// Close stops the pipeline and frees the session; it is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.releasePendingClipLocked()
	if s.utt != nil {
		s.pl.Interrupt()
		s.utt = nil
	}
	closers := s.closers
	s.mu.Unlock()
	for _, f := range closers {
		f()
	}
	close(s.stop)
	<-s.done
	err := s.setState(gst.StateNull)
	s.emit(Event{Kind: EventClosed})
	return err
}

// Done is closed when the session's watcher ended (Close, or a pipeline error).
func (s *Session) Done() <-chan struct{} { return s.done }

// watch is the single owner of the bus, and turns the utterance's progress into
// events. It ends at Close or on a pipeline error.
func (s *Session) watch() {
	defer close(s.done)
	bus := s.p.GetPipelineBus()
	lastPos := time.Now()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		if msg := bus.TimedPopFiltered(gst.ClockTime(50*time.Millisecond), gst.MessageError|gst.MessageWarning|gst.MessageEOS); msg != nil {
			switch msg.Type() {
			case gst.MessageError:
				err := msg.ParseError()
				s.log.Error("pipeline error", "element", msg.Source(), "err", err, "debug", err.DebugString())
				s.emit(Event{Kind: EventError, Err: withKind(ErrPipeline, fmt.Errorf("%s: %v", msg.Source(), err))})
				return
			case gst.MessageWarning:
				s.log.Warn("pipeline warning", "element", msg.Source(), "warning", msg.ParseWarning())
			case gst.MessageEOS:
				return
			}
		}
		s.progress(&lastPos)
	}
}

// progress emits started/finished/underrun and, every 200 ms, the played position.
func (s *Session) progress(lastPos *time.Time) {
	s.mu.Lock()
	u, id := s.utt, s.uttID
	var evs []Event
	if u != nil {
		pos := u.Position()
		st := s.pl.Stats()
		if !s.started && u.State() >= timeline.Playing {
			s.started = true
			evs = append(evs, Event{Kind: EventStarted, Utterance: id})
		}
		if st.Audio.Underruns > s.underruns {
			evs = append(evs, Event{Kind: EventUnderrun, Utterance: id, Underruns: st.Audio.Underruns - s.underruns})
			s.underruns = st.Audio.Underruns
		}
		s.speechProgress(u, id, st.Audio)
		switch u.State() {
		case timeline.Finished:
			evs = append(evs, Event{Kind: EventFinished, Utterance: id, Played: pos})
			s.utt = nil
		case timeline.Playing:
			if time.Since(*lastPos) >= 200*time.Millisecond {
				*lastPos = time.Now()
				queued := time.Duration(st.Audio.QueuedSamples) * time.Second / time.Duration(s.cfg.Rate)
				evs = append(evs, Event{Kind: EventPosition, Utterance: id, Played: pos, Queued: queued,
					LateFrames: st.Video.Late})
			}
		}
	}
	s.mu.Unlock()
	for _, e := range evs {
		s.emit(e)
	}
}

// IsQueueFull reports whether err is the told-not-dropped backpressure error.
func IsQueueFull(err error) bool { return errors.Is(err, ErrQueueFull) }
