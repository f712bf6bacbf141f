package client

import (
	"context"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
)

// Session is one avatar stream driven over the connection.
type Session struct {
	c      *Client
	ID     string
	Token  string      // resume token
	Audio  AudioFormat // what the session was created with
	Video  VideoFormat
	events chan Event
	create Event // how it was created, to make it again after a takeover
}

// Events delivers the session's events (started, position, finished, underrun,
// errors); it is closed when the connection ends.
func (s *Session) Events() <-chan Event { return s.events }

// Begin starts utterance utt. a nil format means the session's; frames is the count
// of frames that will follow (-1: unknown).
func (s *Session) Begin(utt uint32, a *AudioFormat, frames int64) error {
	return s.c.sendJSON(Event{Type: ingestproto.TypeBegin, Session: s.ID, Utterance: utt, Audio: a, Frames: frames})
}

func (s *Session) binary(kind byte, utt uint32, index uint64, payload []byte) error {
	b := ingestproto.AppendBinary(make([]byte, 0, 16+len(s.ID)+len(payload)),
		ingestproto.Binary{Kind: kind, Session: s.ID, Utterance: utt, Index: index, Payload: payload})
	return s.c.write(2, b) // websocket.BinaryMessage
}

// SendAudio sends a PCM slice of utterance utt in its declared format.
func (s *Session) SendAudio(utt uint32, pcm []byte) error {
	return s.binary(ingestproto.KindAudio, utt, 0, pcm)
}

// SendFrame sends frame i of utterance utt (shown at T0 + i/fps).
func (s *Session) SendFrame(utt uint32, i int64, frame []byte) error {
	return s.binary(ingestproto.KindFrame, utt, uint64(i), frame)
}

// SetIdle replaces the frame shown between utterances.
func (s *Session) SetIdle(frame []byte) error { return s.binary(ingestproto.KindIdle, 0, 0, frame) }

// End says no more audio comes for utt.
func (s *Session) End(utt uint32) error {
	return s.c.sendJSON(Event{Type: ingestproto.TypeEnd, Session: s.ID, Utterance: utt})
}

// Interrupt cuts the playing utterance and returns the "interrupted" event with what
// the listener heard.
func (s *Session) Interrupt(ctx context.Context) (Event, error) {
	return s.c.request(ctx, Event{Type: ingestproto.TypeInterrupt, Session: s.ID}, ingestproto.TypeInterrupted)
}

// Close tears the session down on the server.
func (s *Session) Close(ctx context.Context) error {
	_, err := s.c.request(ctx, Event{Type: ingestproto.TypeClose, Session: s.ID}, ingestproto.TypeClosed)
	return err
}

// Play streams a whole utterance — audio in the session's format and its frames —
// paced to stay at most ahead of real time, as a TTS would, so the server's queue
// never fills; it returns when everything is sent.
func (s *Session) Play(ctx context.Context, utt uint32, pcm []byte, frames [][]byte, ahead time.Duration) error {
	if ahead == 0 {
		ahead = time.Second
	}
	if err := s.Begin(utt, nil, int64(len(frames))); err != nil {
		return err
	}
	bps := s.Audio.Rate * s.Audio.Channels * 2
	slice := bps / 10 // 100 ms
	var fpsN, fpsD int
	fmtFPS(s.Video.FPS, &fpsN, &fpsD)
	start := time.Now()
	fi := 0
	for pos := 0; pos < len(pcm); pos += slice {
		at := time.Duration(int64(pos) * int64(time.Second) / int64(bps))
		if wait := at - ahead - time.Since(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := s.SendAudio(utt, pcm[pos:min(pos+slice, len(pcm))]); err != nil {
			return err
		}
		for ; fi < len(frames) && time.Duration(int64(fi)*int64(time.Second)*int64(fpsD)/int64(fpsN)) < at+100*time.Millisecond; fi++ {
			if err := s.SendFrame(utt, int64(fi), frames[fi]); err != nil {
				return err
			}
		}
	}
	return s.End(utt)
}
