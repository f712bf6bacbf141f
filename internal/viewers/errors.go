package viewers

import (
	"errors"
	"strings"
)

var (
	// ErrBadOffer is returned for an SDP offer the backend cannot use; a 400 for the client.
	ErrBadOffer = errors.New("viewers: unusable SDP offer")
	// ErrNoViewer is returned for an unknown viewer id.
	ErrNoViewer = errors.New("viewers: no such viewer")
	// ErrClosed is returned after the session's output closed.
	ErrClosed = errors.New("viewers: output closed")
	// ErrTooManyViewers is returned past the session's or the host's caps.
	ErrTooManyViewers = errors.New("viewers: viewer limit reached")
	// ErrTooManyPending is returned when the client's address already has its cap of
	// viewers not yet connected (HostCaps.PendingPerAddr); a 429 for the client.
	ErrTooManyPending = errors.New("viewers: too many unconnected viewers from this address")
)

// maxReason bounds Reason.
const maxReason = 256

// Reason is err's text for a client, cut at 256 bytes: a WebRTC stack's error for an
// offer quotes the value it refused, which may be most of a 64 KiB offer.
func Reason(err error) string {
	s := err.Error()
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason], "") + "…"
}
