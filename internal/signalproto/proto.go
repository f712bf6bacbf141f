// Package signalproto is the JSON protocol of avhost's WebSocket signaling at /ws
// (docs/signaling.md), shared by the server, the demo page and tests.
package signalproto

// Message types.
const (
	TypeOffer     = "offer"     // client → server: SDP offer for a session
	TypeAnswer    = "answer"    // server → client: SDP answer, with the viewer id
	TypeCandidate = "candidate" // either way: a trickled ICE candidate
	TypeBye       = "bye"       // client → server: leave
	TypeError     = "error"     // server → client
	// TypeInterrupted (server → client): the session's utterance was cut; the page
	// may silence the audio still in flight. With speech events (speech.go) it also
	// carries seq, utterance, rtp and played_ms.
	TypeInterrupted = "interrupted"
)

// Message is every signaling message.
type Message struct {
	Type      string     `json:"type"`
	Session   string     `json:"session,omitempty"`
	Viewer    string     `json:"viewer,omitempty"`
	SDP       string     `json:"sdp,omitempty"`
	Candidate *Candidate `json:"candidate,omitempty"`
	Error     string     `json:"error,omitempty"`
	// ICEServers (in an answer) are the host's STUN/TURN servers, for the viewer's
	// RTCPeerConnection; the /ws twin of WHEP's Link headers (RFC 9725 §4.6).
	ICEServers []ICEServer `json:"ice_servers,omitempty"`

	// Speech events (speech.go).
	Seq       uint64  `json:"seq,omitempty"`
	Utterance uint32  `json:"utterance,omitempty"`
	RTP       *uint32 `json:"rtp,omitempty"`
	Index     int     `json:"index,omitempty"`
	Text      string  `json:"text,omitempty"`
	StartMS   int64   `json:"start_ms,omitempty"`
	EndMS     int64   `json:"end_ms,omitempty"`
	PlayedMS  float64 `json:"played_ms,omitempty"`
}

// ICEServer is RTCIceServer (W3C WebRTC §4.2.2), with password credentials only: a
// page passes the list to new RTCPeerConnection({iceServers}) as it is.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Candidate is RTCIceCandidateInit.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}
