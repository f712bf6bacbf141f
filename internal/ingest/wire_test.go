package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/ingestproto"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/timeline"
)

func readDoc(t *testing.T) string {
	b, err := os.ReadFile("../../docs/ingest.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The error codes docs/ingest.md lists are exactly those ingest sends: the session
// kinds' codes, ingest's own refusals, and bad_request for the rest.
func TestErrorCodesAreTheDocumentedOnes(t *testing.T) {
	var documented []string
	section := readDoc(t)[strings.Index(readDoc(t), "## Error codes"):]
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	src, err := os.ReadFile("conn.go")
	if err != nil {
		t.Fatal(err)
	}
	sent := []string{"bad_request"}
	for _, c := range codes {
		sent = append(sent, c.code)
	}
	for _, m := range regexp.MustCompile(`c\.fail\([^,]+, [^,]+, "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		sent = append(sent, m[1])
	}
	slices.Sort(documented)
	slices.Sort(sent)
	if sent = slices.Compact(sent); !slices.Equal(documented, sent) {
		t.Fatalf("docs/ingest.md lists codes %v; ingest sends %v", documented, sent)
	}
}

func TestEachSessionErrorKindMapsToItsCode(t *testing.T) {
	for _, c := range codes {
		wrapped := fmt.Errorf("context: %w", c.kind)
		if got := code(wrapped); got != c.code {
			t.Errorf("%v: code %q, want %q", c.kind, got, c.code)
		}
	}
	if got := code(errors.New("anything else")); got != "bad_request" {
		t.Errorf("an error of no kind: %q, want bad_request", got)
	}
}

// docs/ingest.md says how many events wait for a slow client before it is closed.
func TestDocumentedEventQueueIsTheCodes(t *testing.T) {
	m := regexp.MustCompile(`buffered up to (\d+) messages`).FindStringSubmatch(readDoc(t))
	if m == nil {
		t.Fatal("docs/ingest.md no longer states the event queue")
	}
	if n, _ := strconv.Atoi(m[1]); n != outQueue {
		t.Fatalf("docs/ingest.md says %d events, the code queues %d", n, outQueue)
	}
}

// A session and the wire protocol accept the same session ids.
func TestSessionAndWireAgreeOnSessionIDs(t *testing.T) {
	for _, id := range []string{"a", "A-b_c.9", strings.Repeat("x", 64), "", strings.Repeat("x", 65), "a b", "a/b", "é", "a\x00"} {
		s, w := session.ValidID(id) == nil, ingestproto.ValidSessionID(id) == nil
		if s != w {
			t.Errorf("id %q: session says valid=%v, wire says %v", id, s, w)
		}
	}
}

func TestSessionEventsBecomeTheDocumentedMessages(t *testing.T) {
	pos := timeline.Position{Samples: 4800, Played: 200 * time.Millisecond}
	for _, tc := range []struct {
		name string
		ev   session.Event
		want string
	}{
		{"started carries the utterance", session.Event{Kind: session.EventStarted, Session: "s", Utterance: 7},
			`{"type":"started","session":"s","utterance":7}`},
		{"position carries what was played, what is queued and late frames",
			session.Event{Kind: session.EventPosition, Session: "s", Utterance: 7, Played: pos, Queued: 12500 * time.Microsecond, LateFrames: 3},
			`{"type":"position","session":"s","utterance":7,"played_samples":4800,"played_ms":200,"queued_ms":12.5,"late_frames":3}`},
		{"underrun carries the new underruns", session.Event{Kind: session.EventUnderrun, Session: "s", Utterance: 7, Underruns: 2},
			`{"type":"underrun","session":"s","utterance":7,"underruns":2}`},
		{"finished carries what was played", session.Event{Kind: session.EventFinished, Session: "s", Utterance: 7, Played: pos},
			`{"type":"finished","session":"s","utterance":7,"played_samples":4800,"played_ms":200}`},
		{"a pipeline failure is an error with code pipeline",
			session.Event{Kind: session.EventError, Session: "s", Err: fmt.Errorf("%w: x264enc: boom", session.ErrPipeline)},
			`{"type":"error","session":"s","code":"pipeline","error":"session: pipeline failed: x264enc: boom"}`},
		{"closed carries the session only", session.Event{Kind: session.EventClosed, Session: "s"},
			`{"type":"closed","session":"s"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(message(tc.ev))
			if string(b) != tc.want {
				t.Fatalf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}
