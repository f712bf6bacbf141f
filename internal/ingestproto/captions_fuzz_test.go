package ingestproto

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCaption: whatever a client sends as a caption, what decodes holds every bound
// the session relies on.
func FuzzCaption(f *testing.F) {
	f.Add([]byte(`{"type":"caption","session":"demo","utterance":1,"words":[{"text":"hello","start_ms":0,"end_ms":300},{"text":"world","start_ms":320,"end_ms":700}]}`))
	f.Add([]byte(`{"type":"caption","session":"a","words":[{"text":"\u202eevil","start_ms":0,"end_ms":1}]}`))
	f.Add([]byte(`{"type":"caption","session":"a","words":[{"text":"x","start_ms":5,"end_ms":1}]}`))
	f.Add([]byte(`{"type":"caption","session":"a","words":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeText(b)
		if err != nil || m.Type != TypeCaption {
			return
		}
		if len(m.Words) == 0 || len(m.Words) > MaxCaptionWords {
			t.Fatalf("%d words accepted", len(m.Words))
		}
		last := int64(-1)
		for _, w := range m.Words {
			if w.Text == "" || len(w.Text) > MaxWordBytes || !utf8.ValidString(w.Text) {
				t.Fatalf("text %q accepted", w.Text)
			}
			if w.StartMS < last || w.StartMS < 0 || w.EndMS < w.StartMS || w.EndMS > MaxCaptionOffsetMS {
				t.Fatalf("offsets %d-%d after %d accepted", w.StartMS, w.EndMS, last)
			}
			last = w.StartMS
		}
	})
}

func TestCaptionRefusals(t *testing.T) {
	many := make([]string, MaxCaptionWords+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"text":"w","start_ms":%d,"end_ms":%d}`, i, i)
	}
	for name, words := range map[string]string{
		"no words":                 `[]`,
		"words not an array":       `{"text":"a"}`,
		"too many words":           "[" + strings.Join(many, ",") + "]",
		"empty text":               `[{"text":"","start_ms":0,"end_ms":0}]`,
		"text too long":            `[{"text":"` + strings.Repeat("a", MaxWordBytes+1) + `","start_ms":0,"end_ms":0}]`,
		"a control character":      `[{"text":"a\u0007","start_ms":0,"end_ms":0}]`,
		"a bidi override":          `[{"text":"\u202ea","start_ms":0,"end_ms":0}]`,
		"a negative start":         `[{"text":"a","start_ms":-1,"end_ms":0}]`,
		"an end before its start":  `[{"text":"a","start_ms":10,"end_ms":9}]`,
		"an offset past an hour":   `[{"text":"a","start_ms":0,"end_ms":3600001}]`,
		"starts going back":        `[{"text":"a","start_ms":10,"end_ms":20},{"text":"b","start_ms":9,"end_ms":20}]`,
		"a fractional millisecond": `[{"text":"a","start_ms":0.5,"end_ms":1}]`,
	} {
		t.Run("a caption with "+name+" is refused", func(t *testing.T) {
			b := `{"type":"caption","session":"s","utterance":1,"words":` + words + `}`
			if _, err := DecodeText([]byte(b)); err == nil {
				t.Fatalf("accepted: %.200s", b)
			}
		})
	}
	t.Run("a caption within bounds decodes whole", func(t *testing.T) {
		m, err := DecodeText([]byte(`{"type":"caption","session":"s","utterance":3,"words":[{"text":"héllo","start_ms":0,"end_ms":250},{"text":"you","start_ms":250,"end_ms":250}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := Words{{"héllo", 0, 250}, {"you", 250, 250}}
		if got, _ := json.Marshal(m.Words); string(got) != mustJSON(want) {
			t.Fatalf("words %s, want %s", got, mustJSON(want))
		}
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
