package stream

import "errors"

var (
	// ErrNoAppsink: the pipeline has no element of a name Config gives.
	ErrNoAppsink = errors.New("stream: pipeline has no appsink named")
	// ErrNoRendition: Subscribe or Switch named a rendition the stream does not have.
	ErrNoRendition = errors.New("stream: no such rendition")
	// ErrClosed: Subscribe after Close.
	ErrClosed = errors.New("stream: closed")
)
