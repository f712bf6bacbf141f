package singleframesrc

import "errors"

var (
	// ErrFrameSize is returned for a frame whose byte count does not match the
	// configured width, height and format; nothing is queued.
	ErrFrameSize = errors.New("singleframesrc: frame size does not match width, height and format")

	// ErrStarted is returned for a caps-changing property set while the element runs.
	ErrStarted = errors.New("singleframesrc: width, height, framerate and format are fixed once started")

	// ErrNotElement is returned by FromElement for an element of another kind.
	ErrNotElement = errors.New("singleframesrc: element is not a singleframesrc")
)

// ErrClipDone is returned for a frame set into an idle clip already shown or released.
var ErrClipDone = errors.New("singleframesrc: idle clip already shown or released")
