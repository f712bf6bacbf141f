package timeline

import "errors"

var (
	// ErrBusy is returned by Begin while an utterance is still playing.
	ErrBusy = errors.New("timeline: an utterance is already playing")

	// ErrAnchor is returned for an anchor that is not on the audio chunk grid or lies
	// in the past of the stream.
	ErrAnchor = errors.New("timeline: anchor is off the chunk grid or already emitted")

	// ErrQueueFull is returned by a write under the reject overflow policy when the
	// queue has no room; nothing of the write was queued.
	ErrQueueFull = errors.New("timeline: queue full")

	// ErrInterrupted is returned for writes to an utterance that was interrupted or
	// finished; the data is not queued.
	ErrInterrupted = errors.New("timeline: utterance is no longer playing")

	// ErrLate is returned for a frame whose presentation time has already passed; it is
	// dropped and counted, and the last frame holds.
	ErrLate = errors.New("timeline: frame arrived after its presentation time")

	// ErrEnded is returned for a write after End.
	ErrEnded = errors.New("timeline: write after end of utterance")

	// ErrConfig is returned for an invalid configuration.
	ErrConfig = errors.New("timeline: invalid configuration")
)
