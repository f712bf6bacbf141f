package server_test

import (
	"testing"
	"time"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
)

// TestCaptionsThroughTheGoClient: words sent with client.Session.Caption become the
// session's speech events at their offsets; a caption the session cannot take comes
// back as bad_caption, and the connection and utterance carry on.
func TestCaptionsThroughTheGoClient(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	s := create(t, c, "cap")
	sess, err := h.srv.Sessions.Get("cap")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan session.SpeechEvent, 64)
	defer sess.OnSpeech(func(e session.SpeechEvent) {
		select {
		case got <- e:
		default:
		}
	})()
	if err := s.Begin(1, nil, -1); err != nil {
		t.Fatal(err)
	}
	if err := s.Caption(1, []client.Word{{Text: "hello", StartMS: 0, EndMS: 300}, {Text: "there", StartMS: 350, EndMS: 600}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Caption(1, []client.Word{{Text: "x", StartMS: 5, EndMS: 1}}); err == nil {
		t.Fatal("the client sent a word that ends before it starts")
	}
	// A word going back from the last message is the session's to refuse.
	if err := s.Caption(1, []client.Word{{Text: "back", StartMS: 100, EndMS: 200}}); err != nil {
		t.Fatal(err)
	}
	if e := waitEventOrError(t, s, "none", 3*time.Second); e.Code != "bad_caption" {
		t.Fatalf("a word going back: %+v", e)
	}
	if err := s.SendAudio(1, tone(24000)); err != nil {
		t.Fatal(err)
	}
	s.End(1)
	var texts []string
	var start time.Duration
	for len(texts) < 2 {
		select {
		case e := <-got:
			switch e.Kind {
			case session.SpeechStarted:
				start = e.At
			case session.SpeechWord:
				texts = append(texts, e.Word.Text)
				if want := start + time.Duration(map[string]int{"hello": 0, "there": 350}[e.Word.Text])*time.Millisecond; e.At != want {
					t.Fatalf("%q at %v, want %v", e.Word.Text, e.At, want)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("words told: %v", texts)
		}
	}
	waitEvent(t, s, ingestproto.TypeFinished, 5*time.Second)
}
