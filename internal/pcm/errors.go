package pcm

import "errors"

var (
	// ErrPartialSample is returned for a slice whose byte count is not a whole number of
	// sample frames (all channels of one sample instant).
	ErrPartialSample = errors.New("pcm: slice length is not a whole number of sample frames")

	// ErrNonFinite is returned for float input holding NaN or ±Inf. The slice is rejected
	// whole so that nothing the caller did not mean is played.
	ErrNonFinite = errors.New("pcm: float slice holds NaN or Inf")

	// ErrFormat is returned for a format avhost cannot convert.
	ErrFormat = errors.New("pcm: unsupported format")
)
