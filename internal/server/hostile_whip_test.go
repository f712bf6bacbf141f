package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/whip"
)

// lockedBuffer is a log sink several goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// target is a hostile WHIP endpoint: it counts what reaches it and answers with h.
type target struct {
	*httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	bearers []string
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		tg.mu.Lock()
		tg.bearers = append(tg.bearers, r.Header.Get("Authorization"))
		tg.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(tg.Close)
	return tg
}

const (
	sfuToken    = "sfu-bearer-SECRET-T0KEN"
	bodySecret  = "BODY-SECRET-42"
	querySecret = "QUERY-SECRET-99"
	pathSecret  = "PATH-KEY-77"
)

// publishHost runs a small encoding demo session with fast, capped publish retries
// and keeps its log.
func publishHost(t *testing.T) (*host, *lockedBuffer) {
	logs := &lockedBuffer{}
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
		c.PublishRetry = whip.Retry{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, MaxAttempts: 3}
		c.PublishAllow = []string{"127.0.0.1"}
		c.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return h, logs
}

func startPublishing(t *testing.T, h *host, url string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"url": url, "token": sfuToken})
	req, _ := http.NewRequest("POST", h.web+"/api/sessions/demo/whip", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// publishStatus reads GET …/whip with the host token, raw and decoded.
func publishStatus(t *testing.T, h *host) (string, whip.Status) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.web+"/api/sessions/demo/whip", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var st whip.Status
	if resp.StatusCode != 200 || json.Unmarshal(raw, &st) != nil {
		t.Fatalf("status: %d %s", resp.StatusCode, raw)
	}
	return string(raw), st
}

// publishUntilGaveUp publishes to url and waits for the publisher to give up.
func publishUntilGaveUp(t *testing.T, h *host, url string) (string, whip.Status) {
	t.Helper()
	if resp := startPublishing(t, h, url); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start publish: %d", resp.StatusCode)
	}
	var raw string
	var st whip.Status
	waitFor(t, 20*time.Second, func() bool {
		raw, st = publishStatus(t, h)
		return st.State == whip.Failed
	}, "the publisher gives up")
	return raw, st
}

// TestWHIPPublishIsNotAProxy: issue 10 row 5. A host-token holder names the endpoint,
// but what the endpoint answers must not come back out (status, logs), its redirects
// and foreign Locations are not followed, the bearer stays on its origin, and retries
// end.
func TestWHIPPublishIsNotAProxy(t *testing.T) {
	h, logs := publishHost(t)
	noSecrets := func(t *testing.T, raw string, secrets ...string) {
		t.Helper()
		for _, s := range append(secrets, sfuToken) {
			if strings.Contains(raw, s) {
				t.Errorf("status echoes %q: %s", s, raw)
			}
			if strings.Contains(logs.String(), s) {
				t.Errorf("log echoes %q", s)
			}
		}
	}

	t.Run("a redirect is not followed and the bearer does not go there", func(t *testing.T) {
		elsewhere := newTarget(t, nil)
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/whip", http.StatusTemporaryRedirect)
		})
		raw, st := publishUntilGaveUp(t, h, tg.URL+"/whip")
		if n := elsewhere.hits.Load(); n != 0 {
			t.Fatalf("the redirect was followed: %d requests reached its target", n)
		}
		if !strings.Contains(st.LastError, "307") || !strings.Contains(st.LastError, "redirect") {
			t.Fatalf("last_error %q does not say a 307 redirect was refused", st.LastError)
		}
		noSecrets(t, raw, elsewhere.URL)
	})

	t.Run("an error body and reason phrase are not echoed", func(t *testing.T) {
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			// A reason phrase of the endpoint's own, which net/http cannot write.
			c, bw, _ := w.(http.Hijacker).Hijack()
			defer c.Close()
			msg := "internal: " + bodySecret
			fmt.Fprintf(bw, "HTTP/1.1 500 REASON-%s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bodySecret, len(msg), msg)
			bw.Flush()
		})
		raw, st := publishUntilGaveUp(t, h, tg.URL+"/whip")
		if st.LastError != "WHIP POST answered 500 Internal Server Error" {
			t.Fatalf("last_error %q, want the status code and its standard text only", st.LastError)
		}
		noSecrets(t, raw, bodySecret)
	})

	t.Run("a 201 whose body is no SDP answer is not echoed", func(t *testing.T) {
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				w.Header().Set("Location", "/whip/res")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "v=0\r\nx="+bodySecret+"\r\n")
			}
		})
		raw, st := publishUntilGaveUp(t, h, tg.URL+"/whip")
		if !strings.Contains(st.LastError, "not a usable SDP answer") {
			t.Fatalf("last_error %q", st.LastError)
		}
		noSecrets(t, raw, bodySecret)
	})

	t.Run("a Location on another origin is refused and never gets the bearer", func(t *testing.T) {
		foreign := newTarget(t, nil)
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "POST" {
				w.Header().Set("Location", foreign.URL+"/steal")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, "v=0\r\n")
			}
		})
		_, st := publishUntilGaveUp(t, h, tg.URL+"/whip")
		if n := foreign.hits.Load(); n != 0 {
			t.Fatalf("%d requests reached the foreign Location (bearers %q)", n, foreign.bearers)
		}
		if !strings.Contains(st.LastError, "another origin") {
			t.Fatalf("last_error %q", st.LastError)
		}
		tg.mu.Lock()
		defer tg.mu.Unlock()
		for _, b := range tg.bearers {
			if b != "Bearer "+sfuToken {
				t.Fatalf("the endpoint itself got %q", b)
			}
		}
	})

	t.Run("the URL's query and path are not echoed", func(t *testing.T) {
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "later", http.StatusServiceUnavailable)
		})
		raw, st := publishUntilGaveUp(t, h, tg.URL+"/whip/"+pathSecret+"?key="+querySecret)
		if st.Endpoint != tg.URL || st.LastError != "WHIP POST answered 503 Service Unavailable" {
			t.Fatalf("status %s", raw)
		}
		noSecrets(t, raw, querySecret, pathSecret)
	})

	t.Run("retries stop at the cap with a reason", func(t *testing.T) {
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusServiceUnavailable)
		})
		_, st := publishUntilGaveUp(t, h, tg.URL+"/whip")
		if st.Attempts != 3 || st.Failures != 3 || st.MaxAttempts != 3 || st.Connected || st.LastError == "" {
			t.Fatalf("status %+v, want 3 failed attempts of 3 and a reason", st)
		}
		if !strings.Contains(logs.String(), "WHIP publish: giving up") {
			t.Fatal("no log line says the publisher gave up (and the log checks above saw no publisher lines)")
		}
		// The publisher has returned; give it ten times the longest backoff to show
		// that no fourth POST comes.
		for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if n := tg.hits.Load(); n != 3 {
				t.Fatalf("%d POSTs, want 3", n)
			}
		}
	})

	t.Run("only http and https on listed hosts are accepted", func(t *testing.T) {
		tg := newTarget(t, nil)
		for _, c := range []struct {
			url    string
			status int
		}{
			{"file:///etc/passwd", http.StatusBadRequest},
			{"gopher://127.0.0.1:70/", http.StatusBadRequest},
			{"http://user:pass@" + strings.TrimPrefix(tg.URL, "http://") + "/whip", http.StatusBadRequest},
			{strings.Replace(tg.URL, "127.0.0.1", "localhost", 1) + "/whip", http.StatusForbidden}, // not in publish_allow
		} {
			if resp := startPublishing(t, h, c.url); resp.StatusCode != c.status {
				t.Errorf("%s: %d, want %d", c.url, resp.StatusCode, c.status)
			}
		}
		if n := tg.hits.Load(); n != 0 {
			t.Fatalf("%d requests reached a refused target", n)
		}
	})

	t.Run("the status needs the host token", func(t *testing.T) {
		tg := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusServiceUnavailable)
		})
		if resp := startPublishing(t, h, tg.URL+"/whip"); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start publish: %d", resp.StatusCode)
		}
		for _, hdr := range []string{"", "Bearer wrong", "Bearer " + sfuToken} {
			req, _ := http.NewRequest("GET", h.web+"/api/sessions/demo/whip", nil)
			if hdr != "" {
				req.Header.Set("Authorization", hdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "127.0.0.1") {
				t.Fatalf("GET …/whip with %q: %d %s", hdr, resp.StatusCode, b)
			}
		}
	})
}

// TestWHIPPublishReachesNoInternalAddress: issue 10, security review. Without
// publish_allow, a publish reached this host's loopback (also as ::ffff:127.0.0.1) and
// would have reached the cloud metadata address, and its status told open, closed and
// filtered ports apart. Now nothing connects, and the status says why. (With the host
// listed, the same loopback endpoint is reached: TestWHIPPublishIsNotAProxy.)
func TestWHIPPublishReachesNoInternalAddress(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 64, Height: 64}
		c.PublishRetry = whip.Retry{MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 1}
	})
	var conns atomic.Int32
	tg := httptest.NewUnstartedServer(http.NotFoundHandler())
	tg.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	tg.Start()
	defer tg.Close()
	_, port, _ := net.SplitHostPort(tg.Listener.Addr().String())
	for _, u := range []string{
		"http://127.0.0.1:" + port + "/whip",
		"http://[::ffff:127.0.0.1]:" + port + "/whip",
		"http://169.254.169.254/whip",
	} {
		_, st := publishUntilGaveUp(t, h, u)
		if !strings.Contains(st.LastError, "not at a public address") || !strings.Contains(st.LastError, "publish_allow") {
			t.Errorf("%s: last_error %q, want the refusal", u, st.LastError)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback endpoint", n)
	}
}
