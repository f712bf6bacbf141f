// Package viewers is the contract between avhost's WebRTC backends and what signals
// for them: the viewer interface both backends implement (Pion's internal/rtcout and
// webrtcbin's internal/wbout), the client a viewer is made for, the errors, and the
// host's viewer caps (Slots) they share. The signaling side (internal/whep, /ws in
// internal/signaling) and the metrics see only this, so neither knows which backend
// serves a session, and none of them imports a WebRTC stack: SDP travels as text.
//
// The package is named for what it governs, a session's viewers, rather than "rtc" or
// "webrtc": it holds no WebRTC of its own, and "webrtc" would shadow Pion's package
// in the backends that import both.
package viewers

import (
	"context"
	"time"
)

// Backend is a session's WebRTC viewers, whichever backend serves them.
type Backend interface {
	// AddViewer answers SDP offer for client c (its credential, address, and whether
	// the credential admits to the session by itself) with the viewer's id and a
	// complete SDP answer (all candidates gathered, so WHEP clients need no trickle).
	AddViewer(ctx context.Context, offer string, c Client) (id, answer string, err error)
	// AddICECandidate adds a trickled remote candidate for viewer id.
	AddICECandidate(id string, c Candidate) error
	// RemoveViewer disconnects viewer id and frees it.
	RemoveViewer(id string) error
	// Owner returns the credential viewer id was created with; false once it is gone.
	Owner(id string) (string, bool)
	// Viewers is the number of viewers, handshakes in flight included.
	Viewers() int
}

// Candidate is a trickled ICE candidate (RFC 8839 §5.1), as a browser's
// RTCIceCandidateInit carries it.
type Candidate struct {
	Candidate     string
	SDPMid        *string
	SDPMLineIndex *uint16
}

// DefaultConnectTimeout frees a viewer whose connection is not up this long after
// its answer, in both backends, unless configured otherwise.
const DefaultConnectTimeout = 10 * time.Second

// Outputs finds the backend serving a session's viewers; an unknown session is an
// error (whose text is not shown to clients).
type Outputs interface {
	Viewers(session string) (Backend, error)
}

// ICEServer is a STUN or TURN server handed to viewers (W3C RTCIceServer, password
// credentials only), in the backends' neutral form: WHEP sends it as Link headers,
// /ws in its answer.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}
