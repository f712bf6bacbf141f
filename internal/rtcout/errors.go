package rtcout

import "errors"

var (
	// ErrBadOffer is returned for an SDP offer Pion cannot use; a 400 for the client.
	ErrBadOffer = errors.New("rtcout: unusable SDP offer")
	// ErrNoViewer is returned for an unknown viewer id.
	ErrNoViewer = errors.New("rtcout: no such viewer")
	// ErrClosed is returned after the output closed.
	ErrClosed = errors.New("rtcout: output closed")
	// ErrTooManyViewers is returned past Config.MaxViewers or the host's caps.
	ErrTooManyViewers = errors.New("rtcout: viewer limit reached")
	// ErrTooManyPending is returned when the client's address already has its cap of
	// viewers not yet connected (HostCaps.PendingPerAddr); a 429 for the client.
	ErrTooManyPending = errors.New("rtcout: too many unconnected viewers from this address")
)
