package session

import (
	"time"

	"github.com/avhost/avhost/internal/timeline"
)

// EventKind says what an Event reports.
type EventKind int

// What a session reports to its driver, in the order an utterance meets them.
const (
	// EventStarted: the utterance's first chunk has gone out.
	EventStarted EventKind = iota + 1
	// EventPosition: every 200 ms while the utterance plays; Played, Queued and
	// LateFrames are set.
	EventPosition
	// EventUnderrun: audio ran out before End; Underruns is how many chunks since the
	// last such event. The rest of the utterance moves later (docs/ingest.md, Timing).
	EventUnderrun
	// EventFinished: the utterance's audio has all played; Played is set.
	EventFinished
	// EventError: the pipeline failed and the session stopped; Err (kind ErrPipeline)
	// says how.
	EventError
	// EventClosed: the session was closed.
	EventClosed
)

var eventNames = [...]string{EventStarted: "started", EventPosition: "position",
	EventUnderrun: "underrun", EventFinished: "finished", EventError: "error", EventClosed: "closed"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "EventKind(?)"
}

// Event is something a session tells its driver. Kind says which fields are set.
type Event struct {
	Kind      EventKind
	Session   string
	Utterance uint32            // the driver's id for the utterance (all but EventClosed)
	Played    timeline.Position // what the listener has heard of the utterance
	Queued    time.Duration     // audio received and not yet played
	Underruns uint64            // EventUnderrun: chunks that lacked audio since the last one
	// LateFrames counts the session's frames that came after their time (dropped).
	LateFrames uint64
	Err        error // EventError
}
