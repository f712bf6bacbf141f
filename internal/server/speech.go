package server

import (
	"encoding/json"
	"time"

	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signalproto"
)

// Speech events reach viewers two ways (docs/signaling.md, Speech events): every
// Pion viewer's data channel, and every /ws connection watching the session. Both
// carry the audio track's RTP timestamp of the event's running time, taken from the
// session's stream, which is what Pion viewers receive (their packets keep the
// stream's timestamps). A webrtcbin viewer's RTP timestamps are its own payloader's,
// so for those sessions rtp is left out.

// speechMessage is the wire form of e for session h.
func speechMessage(id string, h *hosted, e session.SpeechEvent) signalproto.Message {
	m := signalproto.Message{Session: id, Seq: e.Seq, Utterance: e.Utterance, Type: e.Kind.String()}
	if h != nil && h.wb == nil {
		rtp := h.stream.RTPTime(false, e.At)
		m.RTP = &rtp
	}
	switch e.Kind {
	case session.SpeechWord:
		m.Index, m.Text = e.Index, e.Word.Text
		m.StartMS, m.EndMS = e.Word.Start.Milliseconds(), e.Word.End.Milliseconds()
	case session.SpeechFinished, session.SpeechInterrupted:
		m.PlayedMS = float64(e.Played.Played) / float64(time.Millisecond)
	}
	return m
}

// attachSpeech sends sess's speech events to its Pion viewers' data channels, and
// lets a viewer created with the host token interrupt from its channel (the
// credential POST /api/sessions/{id}/interrupt takes).
func (s *Server) attachSpeech(sess *session.Session, h *hosted) {
	h.pion.SetSpeechControl(rtcout.SpeechControl{
		MayInterrupt: s.isHostToken,
		Interrupt:    func() { sess.Interrupt() },
	})
	cancel := sess.OnSpeech(func(e session.SpeechEvent) {
		b, err := json.Marshal(speechMessage(sess.ID, h, e))
		if err == nil {
			h.pion.Tell(b)
		}
	})
	sess.OnClose(cancel)
}

// onSpeech watches a session's speech events for a /ws connection (a no-op for
// unknown sessions).
func (s *Server) onSpeech(id string, f func(signalproto.Message)) (cancel func()) {
	sess, err := s.Sessions.Get(id)
	if err != nil {
		return func() {}
	}
	h, _ := s.find(id)
	return sess.OnSpeech(func(e session.SpeechEvent) { f(speechMessage(id, h, e)) })
}
