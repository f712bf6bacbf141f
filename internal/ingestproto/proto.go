// Package ingestproto is the wire protocol between a model server and avhost's ingest
// endpoint (docs/ingest.md): JSON text messages for control and events, binary
// messages for audio and frames. Server, Go client and tests share it.
package ingestproto

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Version is sent in "welcome"; a client may check it.
const Version = 1

// Client → server message types.
const (
	TypeCreate    = "create"    // create a session (or attach to one with the same id)
	TypeBegin     = "begin"     // start an utterance
	TypeEnd       = "end"       // no more audio for the utterance
	TypeInterrupt = "interrupt" // barge-in
	TypeClose     = "close"     // tear the session down
	TypeResume    = "resume"    // attach to an existing session with its resume token
)

// Server → client event types.
const (
	TypeWelcome     = "welcome"
	TypeCreated     = "created"
	TypeStarted     = "started"
	TypePosition    = "position"
	TypeFinished    = "finished"
	TypeInterrupted = "interrupted"
	TypeUnderrun    = "underrun"
	TypeClosed      = "closed"
	TypeError       = "error"
)

// AudioFormat declares PCM as the client sends it.
type AudioFormat struct {
	Rate     int    `json:"rate"`     // e.g. 24000
	Channels int    `json:"channels"` // 1 or 2
	Sample   string `json:"sample"`   // "s16" or "f32" (little endian)
}

// VideoFormat declares frames as the client sends them.
type VideoFormat struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	FPS    string `json:"fps"`    // "25" or "30000/1001"
	Format string `json:"format"` // raw: "BGR", "RGB", "RGBA", "I420"; encoded: "jpeg", "png"
}

// Message is every text message; fields unused by a type are omitted.
type Message struct {
	Type      string       `json:"type"`
	Session   string       `json:"session,omitempty"`
	Utterance uint32       `json:"utterance,omitempty"` // client-chosen id, echoed in events
	Audio     *AudioFormat `json:"audio,omitempty"`
	Video     *VideoFormat `json:"video,omitempty"`
	Frames    int64        `json:"frames,omitempty"` // frames of the utterance; 0 or -1 unknown
	Token     string       `json:"token,omitempty"`  // resume token
	// Backend (create) picks the WebRTC backend: "pion" (default) or "webrtcbin".
	Backend string `json:"backend,omitempty"`
	// ViewerToken (create) gates who may watch the session over WebRTC.
	ViewerToken string `json:"viewer_token,omitempty"`
	// Words (caption) are text with offsets in the utterance's audio (caption.go).
	Words Words `json:"words,omitempty"`

	// Events.
	Version       int     `json:"version,omitempty"`
	PlayedSamples int64   `json:"played_samples,omitempty"`
	PlayedMS      float64 `json:"played_ms,omitempty"`
	QueuedMS      float64 `json:"queued_ms,omitempty"`
	Underruns     uint64  `json:"underruns,omitempty"`
	LateFrames    uint64  `json:"late_frames,omitempty"`
	Code          string  `json:"code,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// Binary message kinds: the first byte of a binary message.
const (
	KindAudio byte = 1 // PCM slice of an utterance
	KindFrame byte = 2 // frame i of an utterance
	KindIdle  byte = 3 // the session's idle frame
)

// Binary is a decoded binary message. Layout (little endian):
//
//	kind u8 | session-id length u8 | session id | utterance u32 | index u64 | payload
//
// index is the frame index for KindFrame and 0 otherwise.
type Binary struct {
	Kind      byte
	Session   string
	Utterance uint32
	Index     uint64
	Payload   []byte // aliases the message
}

// ErrMalformed is returned for a binary message that does not follow the layout.
var ErrMalformed = errors.New("ingestproto: malformed binary message")

// MaxSessionID is the longest session id.
const MaxSessionID = 64

// DecodeBinary parses b; Payload aliases b.
func DecodeBinary(b []byte) (Binary, error) {
	if len(b) < 2 {
		return Binary{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	m := Binary{Kind: b[0]}
	if m.Kind < KindAudio || m.Kind > KindIdleClip {
		return Binary{}, fmt.Errorf("%w: kind %d", ErrMalformed, m.Kind)
	}
	n := int(b[1])
	if n == 0 || n > MaxSessionID || len(b) < 2+n+12 {
		return Binary{}, fmt.Errorf("%w: header", ErrMalformed)
	}
	m.Session = string(b[2 : 2+n])
	if err := ValidSessionID(m.Session); err != nil {
		return Binary{}, err
	}
	m.Utterance = binary.LittleEndian.Uint32(b[2+n:])
	m.Index = binary.LittleEndian.Uint64(b[6+n:])
	m.Payload = b[14+n:]
	return m, nil
}

// AppendBinary encodes m after dst.
func AppendBinary(dst []byte, m Binary) []byte {
	dst = append(dst, m.Kind, byte(len(m.Session)))
	dst = append(dst, m.Session...)
	dst = binary.LittleEndian.AppendUint32(dst, m.Utterance)
	dst = binary.LittleEndian.AppendUint64(dst, m.Index)
	return append(dst, m.Payload...)
}

// ErrSessionID is returned for an id that is empty, too long or has characters
// outside [A-Za-z0-9_.-].
var ErrSessionID = errors.New("ingestproto: session id must be 1-64 of [A-Za-z0-9_.-]")

// ValidSessionID checks a session id (it appears in URLs and metrics labels).
func ValidSessionID(id string) error {
	if id == "" || len(id) > MaxSessionID {
		return ErrSessionID
	}
	for _, c := range []byte(id) {
		ok := c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return ErrSessionID
		}
	}
	return nil
}

// DecodeText parses a text message and checks its type is one a client may send.
func DecodeText(b []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("ingestproto: bad JSON: %w", err)
	}
	switch m.Type {
	case TypeCreate, TypeBegin, TypeEnd, TypeInterrupt, TypeClose, TypeResume, TypeIdleClip:
	case TypeCaption:
		if err := ValidWords(m.Words, -1); err != nil {
			return m, err
		}
	default:
		return m, fmt.Errorf("ingestproto: unknown message type %q", m.Type)
	}
	if err := ValidSessionID(m.Session); err != nil {
		return m, err
	}
	return m, nil
}
