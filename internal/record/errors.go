package record

import "errors"

var (
	// ErrName is returned for a session id that cannot name a directory on disk:
	// empty, longer than session.MaxIDLen, a byte outside [A-Za-z0-9_.-], or a leading
	// dot (".", ".." and hidden names), which the session ids' own rule would allow.
	ErrName = errors.New("record: the session id cannot name a recording directory")
	// ErrConfig is returned for a segment length or a byte cap out of bounds.
	ErrConfig = errors.New("record: config")
)
