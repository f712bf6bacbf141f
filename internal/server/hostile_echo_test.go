package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
)

// TestARefusedMessageIsNotEchoed: a refusal names what was wrong, and never carries
// the client's bytes back whole. An echoed session id or number of a megabyte, queued
// 256 times for a client that does not read, was gigabytes held for one connection.
func TestARefusedMessageIsNotEchoed(t *testing.T) {
	h := startHost(t, nil)
	ws, _, err := rawDial(t, h, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var welcome ingestproto.Message
	if err := ws.ReadJSON(&welcome); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("9", 1<<20)
	for _, tc := range []struct{ name, msg string }{
		{"a caption whose words are refused, for a session id of 1 MiB",
			`{"type":"caption","session":"` + big + `","words":[]}`},
		{"a begin for a session id of 1 MiB", `{"type":"begin","session":"` + big + `"}`},
		{"a message type of 1 MiB", `{"type":"` + big + `","session":"s"}`},
		{"an utterance id of a million digits", `{"type":"begin","session":"s","utterance":` + big + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ws.WriteMessage(1, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			_, b, err := ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 1024 || !strings.Contains(string(b), `"type":"error"`) {
				t.Fatalf("a %d-byte reply: %.200s…", len(b), b)
			}
		})
	}
}
