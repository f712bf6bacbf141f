package ingestproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// TypeCaption (client → server) carries the text of an utterance: words (or segments)
// with their offsets in the utterance's audio. avhost hands each to the viewers
// stamped with the RTP time of its audio (docs/ingest.md, Captions).
const TypeCaption = "caption"

// Bounds of a caption message: text from the network is parsed whole into typed
// values and refused past these, before any work.
const (
	MaxCaptionWords    = 256       // words in one caption message
	MaxUtteranceWords  = 4096      // words of one utterance, all its caption messages
	MaxWordBytes       = 256       // UTF-8 bytes of one word's text
	MaxCaptionOffsetMS = 3_600_000 // an offset in the utterance's audio: at most 1 h
)

// Word is one word (or segment) of an utterance's text and where its audio is, in ms
// from the utterance's first sample.
type Word struct {
	Text    string `json:"text"`
	StartMS int64  `json:"start_ms"`
	EndMS   int64  `json:"end_ms"`
}

// Words are a caption message's words. Decoding stops at the first word past
// MaxCaptionWords, so a message of a million tiny words costs no million structs.
type Words []Word

// UnmarshalJSON decodes a JSON array of words, refusing more than MaxCaptionWords.
func (ws *Words) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*ws = nil
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('[') {
		return fmt.Errorf("%w: words must be an array", ErrCaption)
	}
	out := make(Words, 0, 8)
	for d.More() {
		if len(out) == MaxCaptionWords {
			return fmt.Errorf("%w: more than %d words", ErrCaption, MaxCaptionWords)
		}
		var w Word
		if err := d.Decode(&w); err != nil {
			return fmt.Errorf("%w: %v", ErrCaption, err)
		}
		out = append(out, w)
	}
	*ws = out
	return nil
}

// ErrCaption is the kind of every refused caption (error code bad_caption).
var ErrCaption = errors.New("ingestproto: bad caption")

// ValidWords checks the words of one caption message: 1 to MaxCaptionWords of them;
// each text 1 to MaxWordBytes bytes of UTF-8 without control characters; 0 ≤ start ≤
// end ≤ MaxCaptionOffsetMS; starts never going back. after is the start of the last
// word the utterance already has (-1 for none): a message continues the utterance's
// text, it does not go back in it.
func ValidWords(ws Words, after int64) error {
	if len(ws) == 0 || len(ws) > MaxCaptionWords {
		return fmt.Errorf("%w: %d words (1-%d per message)", ErrCaption, len(ws), MaxCaptionWords)
	}
	for i, w := range ws {
		if err := validText(w.Text); err != nil {
			return fmt.Errorf("%w: word %d: %v", ErrCaption, i, err)
		}
		if w.StartMS < 0 || w.EndMS < w.StartMS || w.EndMS > MaxCaptionOffsetMS {
			return fmt.Errorf("%w: word %d: want 0 ≤ start_ms ≤ end_ms ≤ %d", ErrCaption, i, MaxCaptionOffsetMS)
		}
		if w.StartMS < after {
			return fmt.Errorf("%w: word %d starts before the word ahead of it", ErrCaption, i)
		}
		after = w.StartMS
	}
	return nil
}

func validText(s string) error {
	if s == "" || len(s) > MaxWordBytes {
		return fmt.Errorf("text of %d bytes (1-%d)", len(s), MaxWordBytes)
	}
	if !utf8.ValidString(s) {
		return errors.New("text is not UTF-8")
	}
	for _, r := range s {
		// Control characters (C0, DEL, C1) and bidi overrides have no place in a
		// caption and could rearrange what a page shows around it.
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return fmt.Errorf("control character %U in text", r)
		}
	}
	return nil
}
