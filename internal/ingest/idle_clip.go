package ingest

import (
	"fmt"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
)

// idleClip begins an idle clip upload of m.Frames frames; the session checks the
// count, bytes and budget before it allocates anything.
func (c *conn) idleClip(s *session.Session, m ingestproto.Message) {
	n := m.Frames
	if n < 0 || n > session.MaxIdleClipFrames {
		n = session.MaxIdleClipFrames + 1 // refused as over the cap, whatever the int size
	}
	if err := s.BeginIdleClip(int(n)); err != nil {
		c.fail(m.Session, 0, code(err), err)
	}
}

// idleClipFrame sets one frame of the clip being uploaded and, once the last is in,
// tells the client the clip shows.
func (c *conn) idleClipFrame(s *session.Session, b ingestproto.Binary) error {
	if b.Index >= session.MaxIdleClipFrames {
		return fmt.Errorf("idle clip frame %d: a clip has at most %d", b.Index, session.MaxIdleClipFrames)
	}
	shown, err := s.IdleClipFrame(int(b.Index), b.Payload)
	if err == nil && shown > 0 {
		c.send(ingestproto.Message{Type: ingestproto.TypeIdleClipShown, Session: b.Session, Frames: int64(shown)})
	}
	return err
}
