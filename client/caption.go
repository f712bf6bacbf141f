package client

import (
	"github.com/avhost/avhost/internal/ingestproto"
)

// Word is a word (or segment) of an utterance's text: its text and where its audio
// is, in ms from the utterance's first sample (docs/ingest.md, Captions).
type Word = ingestproto.Word

// Caption sends words of utterance utt, after Begin. Starts must not go back, within
// the call or from the words sent before for utt. Words are checked here against the
// server's bounds (ingestproto.ErrCaption), and sent in messages of at most
// ingestproto.MaxCaptionWords; the server refuses more than 4096 words per utterance
// (bad_caption, on Events).
func (s *Session) Caption(utt uint32, words []Word) error {
	if len(words) == 0 {
		return ingestproto.ValidWords(nil, -1)
	}
	after := int64(-1)
	for len(words) > 0 {
		n := min(len(words), ingestproto.MaxCaptionWords)
		if err := ingestproto.ValidWords(words[:n], after); err != nil {
			return err
		}
		if err := s.c.sendJSON(Event{Type: ingestproto.TypeCaption, Session: s.ID, Utterance: utt, Words: words[:n]}); err != nil {
			return err
		}
		after, words = words[n-1].StartMS, words[n:]
	}
	return nil
}
