package session

import "errors"

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
	// ErrBadFrame is returned for a JPEG/PNG frame that does not decode or whose
	// header claims another size than the session's (checked before decoding);
	// nothing is queued.
	ErrBadFrame = errors.New("session: bad frame")
	// ErrConfig is returned by Create for a parameter outside its type or bounds
	// (fps, size, format, rate, channels, backend, queue caps).
	ErrConfig = errors.New("session: bad config")
	// ErrMemoryBudget is returned by Create when the session's estimated memory
	// would take the host's sessions over Manager.MemoryBudget.
	ErrMemoryBudget = errors.New("session: memory budget exceeded")
	// ErrNoUtterance is returned for audio or frames of an utterance that is not current.
	ErrNoUtterance = errors.New("session: no such utterance playing")
)
