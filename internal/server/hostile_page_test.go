package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// pageReq makes one request and returns its status, body and headers.
func pageReq(t *testing.T, method, url string, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("v=0 not an offer"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header
}

// The page never parses data as markup (issue 10 row 6: an fps string reached
// innerHTML): no HTML-parsing sink in its scripts, no inline script or handler.
func TestPageSourceHasNoMarkupSinks(t *testing.T) {
	files, _ := filepath.Glob("web/*")
	if len(files) < 3 {
		t.Fatalf("page files: %v", files)
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|srcdoc|\beval\(|new Function|setTimeout\(\s*['"\x60]`)
	inline := regexp.MustCompile(`(?i)<script(?:[^>]*)>\s*[^<\s]|\son[a-z]+\s*=|javascript:`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := sinks.Find(b); m != nil {
			t.Errorf("%s uses %q: data would be parsed as markup or code", f, m)
		}
		if strings.HasSuffix(f, ".html") {
			if m := inline.Find(b); m != nil {
				t.Errorf("%s has inline script %q: the CSP refuses it", f, m)
			}
		}
	}
}

// The page and its scripts come with a CSP that allows scripts from this origin only,
// and with nosniff and no-referrer.
func TestPageHasASecurityPolicy(t *testing.T) {
	h := startHost(t, nil)
	for _, path := range []string{"/", "/player.js", "/api/sessions"} {
		code, _, hdr := pageReq(t, "GET", h.web+path, nil)
		csp := hdr.Get("Content-Security-Policy")
		if code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		for _, want := range []string{"script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("GET %s: CSP %q allows unsafe sources", path, csp)
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: nosniff %q, referrer policy %q", path, hdr.Get("X-Content-Type-Options"), hdr.Get("Referrer-Policy"))
		}
	}
}

// ?token= is refused everywhere (it lands in proxy logs and history); the header works.
func TestTokenInTheURLIsRefused(t *testing.T) {
	h := startHost(t, func(c *server.Config) { c.Session = session.Config{Width: 64, Height: 64} })
	c := dial(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, "private", nil, nil, client.WithViewerToken("v-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	t.Run("ingest", func(t *testing.T) {
		if _, resp, _ := rawDial(t, &host{ws: h.ws + "?token=" + token}, nil); resp == nil || resp.StatusCode != 401 {
			t.Fatalf("ingest with ?token=: %v, want 401", resp)
		}
		if _, resp, _ := rawDial(t, h, bearer(token)); resp == nil || resp.StatusCode != 101 {
			t.Fatalf("ingest with the header: %v, want 101", resp)
		}
	})
	t.Run("admin API", func(t *testing.T) {
		api := h.web + "/api/sessions/private/interrupt"
		if code, body, _ := pageReq(t, "POST", api+"?token="+token, nil); code != 401 {
			t.Fatalf("interrupt with ?token=: %d %s, want 401", code, body)
		}
		if code, body, _ := pageReq(t, "POST", api, bearer(token)); code != 200 {
			t.Fatalf("interrupt with the header: %d %s, want 200", code, body)
		}
		if code, _, _ := pageReq(t, "POST", h.web+"/api/tickets?token="+token, nil); code != 401 {
			t.Fatalf("ticket with ?token=: %d, want 401", code)
		}
	})
	t.Run("WHEP", func(t *testing.T) {
		sdp := http.Header{"Content-Type": {"application/sdp"}}
		none, _, _ := pageReq(t, "POST", h.web+"/whep/private", sdp)
		query, _, _ := pageReq(t, "POST", h.web+"/whep/private?token=v-secret-0123456789", sdp)
		sdp.Set("Authorization", "Bearer v-secret-0123456789")
		header, _, _ := pageReq(t, "POST", h.web+"/whep/private", sdp)
		if query != none || header == none {
			t.Fatalf("no token %d, ?token= %d, header %d: the query must count for nothing", none, query, header)
		}
	})
}

// A private session's id is listed only to the host token, in /api/sessions and in
// /metrics' labels.
func TestPrivateSessionsAreNotEnumerable(t *testing.T) {
	h := startHost(t, nil)
	c := dial(t, h)
	create(t, c, "lobby")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Create(ctx, "secret-room", nil, nil, client.WithViewerToken("v-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/sessions", "/metrics"} {
		for _, who := range []struct {
			name string
			hdr  http.Header
			sees bool
		}{{"anyone", nil, false}, {"a viewer token", bearer("v-secret-0123456789"), false}, {"a wrong token", bearer("nope"), false}, {"the host token", bearer(token), true}} {
			code, body, _ := pageReq(t, "GET", h.web+path, who.hdr)
			if code != 200 || !strings.Contains(body, "lobby") {
				t.Fatalf("GET %s as %s: %d, public session missing:\n%.300s", path, who.name, code, body)
			}
			if strings.Contains(body, "secret-room") != who.sees {
				t.Errorf("GET %s as %s: private session listed %v, want %v", path, who.name, !who.sees, who.sees)
			}
		}
	}
}

// The page opened with #token= plays, wipes the token from its address, and no request
// it makes carries the token in its URL: it travels in Authorization headers, and /ws
// gets a single-use ticket (the demo is private here, so it plays only if the ticket
// works). Its CSP refuses nothing the page needs.
func TestPageKeepsTheTokenOutOfURLs(t *testing.T) {
	testenv.RequireBrowser(t)
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 0
		c.Session = session.Config{Width: 128, Height: 128, ViewerToken: "v-secret-0123456789"} // private: /ws needs the ticket
	})
	ctx, _ := browserKill(t, time.Minute)
	var mu sync.Mutex
	var urls, problems []string
	authed := map[string]bool{} // path → sent with the token in its header
	status := map[string]int64{}
	// Listen, not chromedp.Events: the checks below need every kind of event as it
	// arrives, before the command that caused it returns.
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls = append(urls, e.Request.URL)
			if e.Request.Headers["Authorization"] == "Bearer "+token {
				authed[strings.TrimPrefix(e.Request.URL, h.web)] = true
			}
		case *network.EventWebSocketCreated:
			urls = append(urls, e.URL)
		case *network.EventResponseReceived:
			status[strings.TrimPrefix(e.Response.URL, h.web)] = e.Response.Status
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError && !strings.Contains(e.Entry.URL, "favicon") {
				problems = append(problems, e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(h.web+"/?via=ws#token="+token)); err != nil {
		t.Fatal(err)
	}
	st := waitStats(t, ctx, func(st pageStats) bool { return st.FramesDecoded >= 10 })
	// Speak (the host token in a header), then read what the page shows and logged.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('speak').click()`)); err != nil {
		t.Fatal(err)
	}
	locked := func(f func() bool) func() bool { return func() bool { mu.Lock(); defer mu.Unlock(); return f() } }
	waitFor(t, 5*time.Second, locked(func() bool { return status["/api/sessions/demo/speak"] != 0 }), "the Speak button's answer")
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#sessions tbody').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	pageErrors := append([]string(nil), problems...)
	mu.Unlock()
	// The CSP is in force: Trusted Types make innerHTML refuse a plain string, and the
	// refusal is logged where pageErrors comes from (so an empty pageErrors means something).
	if probe, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { try { document.createElement('p').innerHTML = '<b>x</b>'; return 'parsed'; } catch (e) { return e.name; } })()`)); err != nil || probe != "TypeError" {
		t.Errorf("innerHTML of a string in the page: %q %v, want a TypeError", probe, err)
	}
	waitFor(t, 5*time.Second, locked(func() bool { return len(problems) > len(pageErrors) }), "the logged refusal")

	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(href, token) {
		t.Errorf("the page's address still holds the token: %s", href)
	}
	var ws string
	for _, u := range urls {
		if strings.Contains(u, token) {
			t.Errorf("a request carried the token in its URL: %s", u)
		}
		if strings.Contains(u, "/ws?ticket=") {
			ws = u
		}
	}
	if ws == "" || !authed["/api/tickets"] || !authed["/api/sessions/demo/speak"] || status["/api/sessions/demo/speak"] != 202 {
		t.Errorf("the token went unused: /ws %q, header on /api/tickets %v and Speak %v, Speak answered %d",
			ws, authed["/api/tickets"], authed["/api/sessions/demo/speak"], status["/api/sessions/demo/speak"])
	}
	if !strings.Contains(rows, "demo (private)") {
		t.Errorf("the sessions table lacks the demo: %q", rows)
	}
	if len(pageErrors) > 0 {
		t.Errorf("the page logged errors (a CSP refusal?): %q", pageErrors)
	}
	t.Logf("%d requests, none with the token in the URL; /ws at %s; %.0f frames decoded", len(urls), strings.TrimPrefix(ws, "ws://"), st.FramesDecoded)
}
