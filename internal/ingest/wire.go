package ingest

import (
	"errors"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
)

// This file is the one place where a session's terms become the wire protocol's
// (docs/ingest.md): its events become messages, its error kinds become error codes.

// event sends a session event to the client; it never blocks (see send).
func (c *conn) event(e session.Event) {
	c.send(message(e))
}

// message is the wire form of a session event.
func message(e session.Event) ingestproto.Message {
	m := ingestproto.Message{Session: e.Session, Utterance: e.Utterance}
	switch e.Kind {
	case session.EventStarted:
		m.Type = ingestproto.TypeStarted
	case session.EventPosition:
		m.Type = ingestproto.TypePosition
		m.PlayedSamples, m.PlayedMS = e.Played.Samples, ms(e.Played.Played)
		m.QueuedMS, m.LateFrames = ms(e.Queued), e.LateFrames
	case session.EventUnderrun:
		m.Type, m.Underruns = ingestproto.TypeUnderrun, e.Underruns
	case session.EventFinished:
		m.Type = ingestproto.TypeFinished
		m.PlayedSamples, m.PlayedMS = e.Played.Samples, ms(e.Played.Played)
	case session.EventError:
		m.Type, m.Code = ingestproto.TypeError, code(e.Err)
		if e.Err != nil {
			m.Error = e.Err.Error()
		}
	case session.EventClosed:
		m.Type, m.Utterance = ingestproto.TypeClosed, 0
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// codes maps each session error kind to its error code. The codes ingest gives for
// its own refusals (bad_message, unknown_session, not_owner, limit per connection)
// are not here; anything else refused is bad_request.
var codes = []struct {
	kind error
	code string
}{
	{session.ErrQueueFull, "queue_full"},
	{session.ErrBusy, "busy"},
	{session.ErrNoUtterance, "no_utterance"},
	{session.ErrNotPlaying, "not_playing"},
	{session.ErrExists, "exists"},
	{session.ErrLimit, "limit"},
	{session.ErrMemoryBudget, "memory_budget"},
	{session.ErrConfig, "bad_config"},
	{session.ErrNotFound, "unknown_session"},
	{session.ErrBadAudio, "bad_audio"},
	{session.ErrBadFrame, "bad_frame"},
	{session.ErrPipeline, "pipeline"},
	{session.ErrCaption, "bad_caption"},
}

// code maps an error to the protocol's error code (docs/ingest.md, Error codes).
func code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.kind) {
			return c.code
		}
	}
	return "bad_request"
}
