package ingest

import (
	"errors"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
)

// caption hands an utterance's words to its session. DecodeText has already held
// them to the message's bounds; the session holds them to the utterance's (order
// across messages, words per utterance).
func (c *conn) caption(s *session.Session, m ingestproto.Message) {
	ws := make([]session.Word, len(m.Words))
	for i, w := range m.Words {
		ws[i] = session.Word{Text: w.Text, Start: time.Duration(w.StartMS) * time.Millisecond,
			End: time.Duration(w.EndMS) * time.Millisecond}
	}
	if err := s.Caption(m.Utterance, ws); err != nil {
		c.fail(m.Session, m.Utterance, code(err), err)
	}
}

// decodeCode is the error code of a text message that did not decode.
func decodeCode(err error) string {
	if errors.Is(err, ingestproto.ErrCaption) {
		return "bad_caption"
	}
	return "bad_message"
}
