package server_test

import (
	"testing"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/server"
)

// TestDeadClientsUtterancePlaysOutWhatIsQueued is what docs/ingest.md promises for a
// model server that vanishes mid-utterance: the audio it had sent plays out (a network
// blip must not cut the sentence the viewer is hearing; a resume carries on the same
// utterance), the utterance then waits for its client, and the session is closed,
// utterance and all, when the resume grace ends.
func TestDeadClientsUtterancePlaysOutWhatIsQueued(t *testing.T) {
	const grace = 4 * time.Second
	h := startHost(t, func(c *server.Config) { c.ResumeGrace = grace })
	s := create(t, dial(t, h), "gone")
	sess, err := h.srv.Sessions.Get("gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(1, nil, -1); err != nil {
		t.Fatal(err)
	}
	const queued = 2 * 24000 // 2 s at the session's 24 kHz
	if err := s.SendAudio(1, tone(queued)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, s, ingestproto.TypeStarted, 3*time.Second)
	u := sess.Current()
	if u == nil {
		t.Fatal("no utterance playing")
	}
	h.srv.DropIngestConnections() // the client is gone, without a word
	dropped := time.Now()
	if at := u.Position().Samples; at >= queued {
		t.Fatalf("all %d samples had played before the drop: the test shows nothing", at)
	}
	waitFor(t, 3*time.Second, func() bool { return u.Position().Samples >= queued }, "the queued audio plays out")
	select {
	case <-u.Done():
		t.Fatal("the utterance ended without its client")
	default:
	}
	if sess.Current() != u {
		t.Fatal("the utterance is no longer the session's")
	}
	waitFor(t, grace+3*time.Second, func() bool {
		_, err := h.srv.Sessions.Get("gone")
		return err != nil
	}, "the session closes when the grace ends")
	if d := time.Since(dropped); d < grace-500*time.Millisecond {
		t.Fatalf("session closed %v after the drop, before the %v grace", d, grace)
	}
}
