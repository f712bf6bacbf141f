package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/record"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
)

// recordHost is a host whose demo session runs the default pipeline (H.264 + Opus
// on the stream), recording into a temporary directory.
func recordHost(t *testing.T) (*host, string) {
	dir := t.TempDir()
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
		c.Record.Dir = dir
	})
	return h, dir
}

func recordCall(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Close = true // no kept-alive connection that the server's idle timeout may close under a later call
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestRecordAPIRefusesWithoutTheHostToken: every record route needs the host token;
// with it, the body may set the segment length within bounds and nothing else (no
// path), ids that cannot name a directory are refused, and a recording runs once.
func TestRecordAPIRefusesWithoutTheHostToken(t *testing.T) {
	h, dir := recordHost(t)
	url := h.web + "/api/sessions/demo/record"
	for _, c := range []struct {
		name, method, url, tok, body string
		want                         int
	}{
		{"a start without a token is 401", "POST", url, "", "", 401},
		{"a start with a wrong token is 401", "POST", url, "not-the-token", "", 401},
		{"the status without a token is 401", "GET", url, "", "", 401},
		{"a stop without a token is 401", "DELETE", url, "", "", 401},
		{"a body naming a directory is 400", "POST", url, token, `{"dir": "/tmp"}`, 400},
		{"a segment below a second is 400", "POST", url, token, `{"segment": "10ms"}`, 400},
		{"a segment above an hour is 400", "POST", url, token, `{"segment": "2h"}`, 400},
		{"a body that is not JSON is 400", "POST", url, token, `segment=5s`, 400},
		{"a dot-led id is 400 (no hidden or parent directory)", "POST", h.web + "/api/sessions/.x/record", token, "", 400},
		{"an unknown session is 404", "POST", h.web + "/api/sessions/nope/record", token, "", 404},
		{"the status of no recording is 404", "GET", url, token, "", 404},
		{"a stop of no recording is 404", "DELETE", url, token, "", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, body := recordCall(t, c.method, c.url, c.tok, c.body); got != c.want {
				t.Fatalf("%s %s: %d %q, want %d", c.method, c.url, got, body, c.want)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused requests left %d entries in the recording directory", len(ents))
	}

	code, body := recordCall(t, "POST", url, token, `{"segment": "1s"}`)
	if code != http.StatusCreated {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, _ := recordCall(t, "POST", url, token, ""); code != http.StatusConflict {
		t.Fatalf("a second start: %d, want 409", code)
	}
	// The recording rotates: wait (bounded) for its second segment.
	var st record.Status
	for deadline := time.Now().Add(15 * time.Second); st.Segments < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("no second segment: %+v", st)
		}
		time.Sleep(100 * time.Millisecond) // polling the status the API serves; bounded
		_, body := recordCall(t, "GET", url, token, "")
		json.Unmarshal([]byte(body), &st)
	}
	code, body = recordCall(t, "DELETE", url, token, "")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil || !st.Stopped || st.Current != "" || st.Bytes == 0 {
		t.Fatalf("stop: %d %s", code, body)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "demo", "demo-*.ts"))
	if len(files) != st.Segments {
		t.Fatalf("%d files for %d segments", len(files), st.Segments)
	}
	for _, f := range files {
		codecs := probeStreams(t, f)
		if codecs != "h264,opus" {
			t.Fatalf("%s: streams %q", filepath.Base(f), codecs)
		}
	}
	t.Logf("%d segments of 1 s, %d bytes, all play with H.264 and Opus", st.Segments, st.Bytes)
}

// TestRecordEndsWithTheSession: a session recorded from its creation (record.all)
// and closed by its ingest client leaves its segments finished and playable, and no
// recording behind.
func TestRecordEndsWithTheSession(t *testing.T) {
	dir := t.TempDir()
	h := startHost(t, func(c *server.Config) {
		c.Session = session.Config{Width: 64, Height: 64}
		c.Record.Dir, c.Record.All, c.Record.Segment = dir, true, time.Second
	})
	c := dial(t, h)
	s := create(t, c, "talk")
	url := h.web + "/api/sessions/talk/record"
	var st record.Status
	for deadline := time.Now().Add(15 * time.Second); st.Segments < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("no second segment: %+v", st)
		}
		time.Sleep(100 * time.Millisecond) // polling the status the API serves; bounded
		_, body := recordCall(t, "GET", url, token, "")
		json.Unmarshal([]byte(body), &st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := recordCall(t, "GET", url, token, ""); code != http.StatusNotFound {
		t.Fatalf("a closed session's recording: %d, want 404", code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "talk", "talk-*.ts"))
	if len(files) < 2 {
		t.Fatalf("%d files", len(files))
	}
	for _, f := range files {
		if got := probeStreams(t, f); got != "h264,opus" {
			t.Fatalf("%s: streams %q", filepath.Base(f), got)
		}
	}
}

// TestRecordConcurrentStartsMakeOneRecording: eight starts at once make one
// recording (201) and seven refusals (409).
func TestRecordConcurrentStartsMakeOneRecording(t *testing.T) {
	h, _ := recordHost(t)
	url := h.web + "/api/sessions/demo/record"
	codes := make(chan int, 8)
	for range 8 {
		go func() { // recordCall's t.Fatal belongs to the test's goroutine: a failure here is code 0
			req, _ := http.NewRequest("POST", url, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	got := map[int]int{}
	for range 8 {
		got[<-codes]++
	}
	if got[http.StatusCreated] != 1 || got[http.StatusConflict] != 7 {
		t.Fatalf("answers %v, want one 201 and seven 409", got)
	}
	if code, _ := recordCall(t, "DELETE", url, token, ""); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
}
