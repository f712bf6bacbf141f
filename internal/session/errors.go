package session

import (
	"errors"

	"github.com/avhost/avhost/elements/singleframesrc"
	"github.com/avhost/avhost/internal/pcm"
	"github.com/avhost/avhost/internal/timeline"
)

// The error kinds of a session. Every error a Session or Manager method returns that
// a driver can act on is one of them (errors.Is): a driver such as ingest maps this one
// set and needs to know nothing of the timelines, the elements or the PCM converter
// beneath. An error of another layer keeps its own text and stays reachable through
// errors.Is as well.
var (
	// ErrExists is returned by Create for an id already in use.
	ErrExists = errors.New("session: id already in use")
	// ErrNotFound is returned for an unknown session id.
	ErrNotFound = errors.New("session: not found")
	// ErrLimit is returned when the session cap is reached.
	ErrLimit = errors.New("session: session limit reached")
	// ErrClosed is returned for operations on a closed session.
	ErrClosed = errors.New("session: closed")
	// ErrFrozen is returned when the pipeline does not change state in time.
	ErrFrozen = errors.New("session: pipeline frozen")
	// ErrPipeline is the kind of the error an EventError carries: the session's
	// pipeline failed and the session has stopped.
	ErrPipeline = errors.New("session: pipeline failed")
	// ErrBadFrame is returned for a frame of the wrong size, a JPEG/PNG frame that does
	// not decode, or one whose header claims another size than the session's (checked
	// before decoding); nothing is queued.
	ErrBadFrame = errors.New("session: bad frame")
	// ErrBadAudio is returned for PCM that cannot be queued: NaN or Inf in float
	// samples, a partial sample frame, or a format avhost does not convert. Nothing of
	// the slice is queued.
	ErrBadAudio = errors.New("session: bad audio")
	// ErrConfig is returned by Create for a parameter outside its type or bounds
	// (id, fps, size, format, rate, channels, backend, queue caps).
	ErrConfig = errors.New("session: bad config")
	// ErrMemoryBudget is returned by Create when the session's estimated memory
	// would take the host's sessions over Manager.MemoryBudget.
	ErrMemoryBudget = errors.New("session: memory budget exceeded")
	// ErrBusy is returned by Begin while an utterance still plays.
	ErrBusy = errors.New("session: an utterance is already playing")
	// ErrNoUtterance is returned for audio, frames or End of an utterance that is not
	// the current one, or that was interrupted, finished or ended.
	ErrNoUtterance = errors.New("session: no such utterance playing")
	// ErrNotPlaying is what a driver reports for an interrupt with nothing playing
	// (Interrupt itself answers false).
	ErrNotPlaying = errors.New("session: nothing is playing")
	// ErrQueueFull is back-pressure: the audio or frame queue has no room, and nothing
	// of the slice or frame was queued. Audio and Frame return it at once and never
	// wait for room, whatever the pipeline's elements are configured to do.
	ErrQueueFull = errors.New("session: queue full")
	// ErrLate is returned for a frame that came after its presentation time: it is
	// dropped and counted (Stats.Video.Late), and the last frame holds.
	ErrLate = errors.New("session: frame arrived after its time")
)

// kindError is an error of a lower layer given a session kind. Its text is the
// cause's, unchanged (clients see it), and errors.Is finds both.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// withKind gives err the kind kind, keeping its text.
func withKind(kind, err error) error { return &kindError{kind: kind, err: err} }

// classify gives an error from the player, timelines, elements or PCM converter its
// session kind; an error with no kind to give (or nil) is returned as it is.
func classify(err error) error {
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, timeline.ErrQueueFull):
		kind = ErrQueueFull
	case errors.Is(err, timeline.ErrBusy):
		kind = ErrBusy
	case errors.Is(err, timeline.ErrInterrupted), errors.Is(err, timeline.ErrEnded):
		kind = ErrNoUtterance
	case errors.Is(err, timeline.ErrLate):
		kind = ErrLate
	case errors.Is(err, pcm.ErrNonFinite), errors.Is(err, pcm.ErrPartialSample), errors.Is(err, pcm.ErrFormat):
		kind = ErrBadAudio
	case errors.Is(err, singleframesrc.ErrFrameSize):
		kind = ErrBadFrame
	default:
		return err
	}
	return withKind(kind, err)
}
