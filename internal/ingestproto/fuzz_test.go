package ingestproto

import (
	"bytes"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(AppendBinary(nil, Binary{Kind: KindAudio, Session: "demo", Utterance: 7, Payload: []byte{1, 2, 3, 4}}))
	f.Add(AppendBinary(nil, Binary{Kind: KindFrame, Session: "a", Index: 99}))
	f.Add([]byte(`{"type":"begin","session":"demo","audio":{"rate":24000,"channels":1,"sample":"s16"}}`))
	f.Add([]byte{2, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := DecodeBinary(b); err == nil {
			// What decodes re-encodes to the same bytes.
			if got := AppendBinary(nil, m); !bytes.Equal(got, b) {
				t.Fatalf("round trip: %x -> %x", b, got)
			}
		}
		_, _ = DecodeText(b)
	})
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":            nil,
		"unknown kind":     {9, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"truncated header": {1, 4, 'd', 'e'},
		"bad session id":   AppendBinary(nil, Binary{Kind: KindAudio, Session: "a b"}),
	} {
		if _, err := DecodeBinary(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, s := range []string{`{}`, `{"type":"bogus","session":"a"}`, `{"type":"begin"}`, `not json`} {
		if _, err := DecodeText([]byte(s)); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
}
