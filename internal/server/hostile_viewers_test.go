package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signaling"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/testsupport/webrtctest"
)

const viewerToken = "v-secret-0123456789"

// viewersHost is an encoding host (the demo session, public) with mod applied.
func viewersHost(t testing.TB, mod func(*server.Config)) *host {
	return startHost(t, func(c *server.Config) {
		yes := true
		c.Demo = &yes
		c.DemoLoop = 3100 * time.Millisecond
		c.Session = session.Config{Width: 128, Height: 128}
		if mod != nil {
			mod(c)
		}
	})
}

// privateSession creates session id with a viewer token, served by backend ("" for
// Pion), through an ingest client that lives as long as the test.
func privateSession(t *testing.T, h *host, id, backend string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := []client.CreateOption{client.WithViewerToken(viewerToken)}
	if backend != "" {
		opts = append(opts, client.WithBackend(backend))
	}
	if _, err := dial(t, h).Create(ctx, id, &client.VideoFormat{Width: 128, Height: 128, FPS: "25", Format: "BGR"}, nil, opts...); err != nil {
		t.Fatal(err)
	}
}

// recvOffer is a recvonly H.264+Opus offer (what webtrctest and the demo page send)
// whose peer is closed at once: an offer that never finishes ICE.
func recvOffer(t testing.TB) string {
	t.Helper()
	m := &webrtc.MediaEngine{}
	m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo)
	m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio)
	return deadOffer(t, webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(loopbackSettings())))
}

func loopbackSettings() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	return se
}

// deadOffer is a recvonly offer for video and audio from api, with all its
// candidates, whose peer is closed at once.
func deadOffer(t testing.TB, api *webrtc.API) string {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	return pc.LocalDescription().SDP
}

type reply struct {
	status   int
	body     string
	location string
}

// request sends one request; hdr values are set as given ("" leaves a header out).
func request(method, url, body string, hdr map[string]string) (reply, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("Location")}, nil
}

// do is request on the test goroutine, failing the test on a transport error.
func do(t testing.TB, method, url, body string, hdr map[string]string) reply {
	t.Helper()
	r, err := request(method, url, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sdpHeaders(authz string) map[string]string {
	return map[string]string{"Content-Type": "application/sdp", "Authorization": authz}
}

// waitPackets waits until r received n more video packets than it had.
func waitPackets(t *testing.T, r *webrtctest.Receiver, n int64, what string) {
	t.Helper()
	from := r.VideoPackets.Load()
	waitFor(t, 10*time.Second, func() bool { return r.VideoPackets.Load() >= from+n }, what)
}

var resourceID = regexp.MustCompile(`^/whep/[^/]+/[0-9a-f]{32}$`)

// TestWHEPViewerCannotBeKickedAnonymously: a viewer of a private session, on either
// backend, has an unguessable resource; DELETE without its credential (none, a wrong
// one, Basic, the token in the query) and DELETE of guessed ids are all refused, and
// the viewer stays: a Pion viewer (webrtctest's receiver) keeps receiving media. Its
// own token ends it. (The webrtcbin viewer is an answered offer whose peer never
// connects: Pion's DTLS and webrtcbin 1.22's do not complete a handshake, so media
// from webrtcbin is tested with Chromium; the viewer is held until the connect deadline,
// long after this test's attempts.)
func TestWHEPViewerCannotBeKickedAnonymously(t *testing.T) {
	h := viewersHost(t, nil)
	for _, backend := range []string{"pion", "webrtcbin"} {
		t.Run(backend, func(t *testing.T) {
			id := "private-" + backend
			privateSession(t, h, id, backend)
			vs, err := h.srv.Viewers(id)
			if err != nil {
				t.Fatal(err)
			}
			count := vs.(interface{ Viewers() int }).Viewers
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var r *webrtctest.Receiver
			var location string
			if backend == "pion" {
				if r, err = webrtctest.JoinWHEPToken(ctx, h.web+"/whep/"+id, viewerToken); err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				location = r.Location
				if err := r.WaitTracks(ctx); err != nil {
					t.Fatal(err)
				}
				waitPackets(t, r, 20, "media before the attempts")
			} else {
				rep := do(t, "POST", h.web+"/whep/"+id, recvOffer(t), sdpHeaders("Bearer "+viewerToken))
				if rep.status != 201 {
					t.Fatalf("POST: %d %q", rep.status, rep.body)
				}
				location = rep.location
			}
			attempts := map[string]map[string]string{
				"no credential":        nil,
				"a wrong token":        {"Authorization": "Bearer wrong"},
				"Basic with the token": {"Authorization": "Basic " + viewerToken},
			}
			for what, hdr := range attempts {
				if rep := do(t, "DELETE", h.web+location, "", hdr); rep.status != 404 {
					t.Errorf("DELETE with %s: %d %q, want 404", what, rep.status, rep.body)
				}
			}
			if rep := do(t, "DELETE", h.web+location+"?token="+viewerToken, "", nil); rep.status != 404 {
				t.Errorf("DELETE with ?token=: %d, want 404", rep.status)
			}
			for i := 1; i <= 20; i++ {
				for _, guess := range []string{fmt.Sprint(i), fmt.Sprint("wb", i)} {
					if rep := do(t, "DELETE", h.web+"/whep/"+id+"/"+guess, "", nil); rep.status != 404 {
						t.Fatalf("DELETE of guessed id %s: %d", guess, rep.status)
					}
				}
			}
			if n := count(); n != 1 {
				t.Fatalf("%d viewers after the attempts, want 1", n)
			}
			if !resourceID.MatchString(location) {
				t.Fatalf("Location %q: want /whep/{session}/{128 random bits as hex}", location)
			}
			if r != nil {
				waitPackets(t, r, 25, "media after the attempts (the viewer plays on)")
			}
			if rep := do(t, "DELETE", h.web+location, "", map[string]string{"Authorization": "Bearer " + viewerToken}); rep.status != 200 {
				t.Fatalf("DELETE with the viewer token: %d %q", rep.status, rep.body)
			}
			waitFor(t, 10*time.Second, func() bool { return count() == 0 }, "the viewer ended by its owner")
		})
	}
}

// TestPrivateSessionAnswersLikeAnUnknownOne: WHEP and /ws without the viewer token get
// exactly what an unknown session gets, whatever else the request holds; with the
// token (a bearer header, or on /ws a ticket) they play.
func TestPrivateSessionAnswersLikeAnUnknownOne(t *testing.T) {
	h := viewersHost(t, nil)
	privateSession(t, h, "private", "")
	offer := recvOffer(t)
	requests := []struct {
		name, query, ct, authz, body string
	}{
		{"no token", "", "application/sdp", "", offer},
		{"a wrong token", "", "application/sdp", "Bearer wrong", offer},
		{"the token in the query", "?token=" + viewerToken, "application/sdp", "", offer},
		{"the token as Basic", "", "application/sdp", "Basic " + viewerToken, offer},
		{"a wrong content type", "", "text/plain", "", offer},
		{"a garbage offer", "", "application/sdp", "", "v=0 garbage"},
		{"an oversized offer", "", "application/sdp", "", strings.Repeat("a", 70<<10)},
	}
	for _, q := range requests {
		t.Run("WHEP with "+q.name, func(t *testing.T) {
			private := do(t, "POST", h.web+"/whep/private"+q.query, q.body, sdpHeaders(q.authz))
			unknown := do(t, "POST", h.web+"/whep/no-such"+q.query, q.body, sdpHeaders(q.authz))
			if private.status != unknown.status || private.body != unknown.body || private.status != 404 {
				t.Fatalf("private: %d %q; unknown: %d %q", private.status, private.body, unknown.status, unknown.body)
			}
		})
	}
	t.Run("WHEP with the token plays", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := webrtctest.JoinWHEPToken(ctx, h.web+"/whep/private", viewerToken)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		waitPackets(t, r, 20, "media with the token")
	})

	wsURL := "ws" + strings.TrimPrefix(h.web, "http") + "/ws"
	answerOf := func(t *testing.T, url string, hdr http.Header, sess string) signalproto.Message {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial(url, hdr)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: sess, SDP: offer})
		var m signalproto.Message
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		name, query string
		hdr         http.Header
	}{
		{"no credential", "", nil},
		{"a wrong bearer", "", bearer("wrong")},
		{"the token in the query", "?token=" + viewerToken, nil},
		{"a made-up ticket", "?ticket=0123456789abcdef0123456789abcdef", nil},
	} {
		t.Run("/ws with "+c.name, func(t *testing.T) {
			private, unknown := answerOf(t, wsURL+c.query, c.hdr, "private"), answerOf(t, wsURL+c.query, c.hdr, "no-such")
			if private.Type != signalproto.TypeError || private.Type != unknown.Type || private.Error != unknown.Error || private.SDP != "" {
				t.Fatalf("private: %+v; unknown: %+v", private, unknown)
			}
		})
	}
	t.Run("/ws with the token as a bearer plays", func(t *testing.T) {
		if m := answerOf(t, wsURL, bearer(viewerToken), "private"); m.Type != signalproto.TypeAnswer || !strings.HasPrefix(m.SDP, "v=0") {
			t.Fatalf("got %+v, want an answer", m)
		}
	})
}

// ticket trades tok for a single-use /ws ticket.
func ticket(t *testing.T, h *host, tok string) string {
	t.Helper()
	rep := do(t, "POST", h.web+"/api/tickets", "", map[string]string{"Authorization": "Bearer " + tok})
	var v struct{ Ticket string }
	if rep.status != 200 || json.Unmarshal([]byte(rep.body), &v) != nil || v.Ticket == "" {
		t.Fatalf("POST /api/tickets: %d %q", rep.status, rep.body)
	}
	return v.Ticket
}

// TestWSTicketWorksOnce: a ticket stands for the viewer token on one /ws upgrade; the
// second upgrade with it is a connection without credential.
func TestWSTicketWorksOnce(t *testing.T) {
	h := viewersHost(t, nil)
	privateSession(t, h, "private", "")
	offer := recvOffer(t)
	url := "ws" + strings.TrimPrefix(h.web, "http") + "/ws?ticket=" + ticket(t, h, viewerToken)
	for i, want := range []string{signalproto.TypeAnswer, signalproto.TypeError} {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "private", SDP: offer})
		var m signalproto.Message
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		err = ws.ReadJSON(&m)
		ws.Close()
		if err != nil || m.Type != want {
			t.Fatalf("use %d of the ticket: %+v %v, want %s", i+1, m, err, want)
		}
	}
}

// postConcurrently posts offer to each url at once and returns the replies.
// postConcurrently posts offer to each of urls, at most conc at a time (all at once
// when conc is len(urls)), and returns the replies in the order of urls.
func postConcurrently(offer string, urls []string, conc int) []reply {
	var wg sync.WaitGroup
	out := make([]reply, len(urls))
	start, slots := make(chan struct{}), make(chan struct{}, conc)
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			slots <- struct{}{}
			defer func() { <-slots }()
			r, err := request("POST", u, offer, sdpHeaders(""))
			if err != nil {
				r.body = err.Error()
			}
			out[i] = r
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func tally(rs []reply) (created, full int, other []string) {
	for _, r := range rs {
		switch r.status {
		case 201:
			created++
		case 503:
			full++
		default:
			other = append(other, fmt.Sprintf("%d %q", r.status, r.body))
		}
	}
	return
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// noAnonymousCaps turns the host's anonymous and per-address caps off, for tests of
// the other caps that offer from one address without a credential.
func noAnonymousCaps(c *server.Config) { c.MaxAnonymousViewers, c.MaxPendingViewersPerAddr = -1, -1 }

// TestViewerCapsHoldUnderConcurrency: N+k offers at once against a cap of N get
// exactly N answers and k 503s: per Pion session, per webrtcbin session, and per host
// across both.
func TestViewerCapsHoldUnderConcurrency(t *testing.T) {
	offer := recvOffer(t)
	t.Run("per session", func(t *testing.T) {
		h := viewersHost(t, func(c *server.Config) {
			c.WebRTC.MaxViewers, c.WebRTCBinMaxViewers = 4, 3
			noAnonymousCaps(c)
		})
		webrtcbinSession(t, h, "wb")
		for _, c := range []struct {
			session string
			cap, n  int
		}{{"demo", 4, 16}, {"wb", 3, 9}} {
			created, full, other := tally(postConcurrently(offer, repeat(h.web+"/whep/"+c.session, c.n), c.n))
			if created != c.cap || full != c.n-c.cap || len(other) > 0 {
				t.Errorf("%s: %d created, %d refused, others %v; want exactly %d created", c.session, created, full, other, c.cap)
			}
		}
	})
	t.Run("per host, across both backends", func(t *testing.T) {
		h := viewersHost(t, func(c *server.Config) {
			c.MaxViewers, c.WebRTC.MaxViewers, c.WebRTCBinMaxViewers = 5, 4, 4
			noAnonymousCaps(c)
		})
		webrtcbinSession(t, h, "wb")
		urls := append(repeat(h.web+"/whep/demo", 6), repeat(h.web+"/whep/wb", 6)...)
		created, full, other := tally(postConcurrently(offer, urls, len(urls)))
		if created != 5 || full != 7 || len(other) > 0 {
			t.Errorf("%d created, %d refused, others %v; want exactly 5 created", created, full, other)
		}
	})
}

// dialFrom opens /ws from local address ip (any 127/8 address reaches a loopback
// listener on Linux). It returns the upgrade's status, or 0 with no HTTP answer.
func dialFrom(h *host, ip string) (*websocket.Conn, int) {
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext,
		HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err == nil {
		return ws, 101
	}
	if resp == nil {
		return nil, 0
	}
	return nil, resp.StatusCode
}

// TestWSConnectionCapsHoldUnderConcurrency: connections opened at once from one
// address get exactly the per-address cap; from many addresses, exactly the global
// cap; a closed connection frees its slot.
func TestWSConnectionCapsHoldUnderConcurrency(t *testing.T) {
	h := startHost(t, func(c *server.Config) { c.WS = signaling.Limits{MaxConns: 6, MaxConnsPerAddr: 4} })
	burst := func(ips []string) (conns []*websocket.Conn, statuses map[int]int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		statuses = map[int]int{}
		for _, ip := range ips {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws, st := dialFrom(h, ip)
				mu.Lock()
				defer mu.Unlock()
				statuses[st]++
				if ws != nil {
					conns = append(conns, ws)
					t.Cleanup(func() { ws.Close() })
				}
			}()
		}
		wg.Wait()
		return
	}
	one, st := burst(repeat("127.0.0.1", 10))
	if st[101] != 4 || st[429] != 6 {
		t.Fatalf("10 at once from one address: %v, want 4 upgraded and 6 × 429", st)
	}
	_, st = burst([]string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"})
	if st[101] != 2 || st[503] != 3 {
		t.Fatalf("5 at once from 5 addresses with 2 slots left: %v, want 2 upgraded and 3 × 503", st)
	}
	one[0].Close()
	waitFor(t, 5*time.Second, func() bool {
		ws, st := dialFrom(h, "127.0.0.7")
		if ws != nil {
			ws.Close()
		}
		return st == 101
	}, "the slot of a closed connection")
}

// TestWSConnectionViewerCap: one /ws connection holds at most its cap of viewers;
// the offer past it gets an error, and a viewer it leaves makes room again.
func TestWSConnectionViewerCap(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) { c.WS.MaxViewersPerConn = 2 })
	offer := recvOffer(t)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.web, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ask := func() signalproto.Message {
		t.Helper()
		ws.WriteJSON(signalproto.Message{Type: signalproto.TypeOffer, Session: "demo", SDP: offer})
		var m signalproto.Message
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var first string
	for i, want := range []string{signalproto.TypeAnswer, signalproto.TypeAnswer, signalproto.TypeError} {
		m := ask()
		if m.Type != want {
			t.Fatalf("offer %d: %+v, want %s", i+1, m, want)
		}
		if i == 0 {
			first = m.Viewer
		}
	}
	ws.WriteJSON(signalproto.Message{Type: signalproto.TypeBye, Viewer: first})
	if m := ask(); m.Type != signalproto.TypeAnswer {
		t.Fatalf("offer after a bye: %+v, want an answer", m)
	}
}

// TestSilentWSConnectionIsClosed: a connection that never sends a message is closed
// at the first-message deadline even though its library answers every ping; one that
// spoke stays open past it.
func TestSilentWSConnectionIsClosed(t *testing.T) {
	h := startHost(t, func(c *server.Config) {
		c.PingInterval = 200 * time.Millisecond
		c.WS.FirstMessage = time.Second
	})
	url := "ws" + strings.TrimPrefix(h.web, "http") + "/ws"
	silent, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	talker, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	start := time.Now()
	talker.WriteJSON(signalproto.Message{Type: signalproto.TypeBye, Viewer: "none"})
	talkerMsgs := make(chan error, 16)
	go func() { // reading answers the server's pings
		for {
			var m signalproto.Message
			err := talker.ReadJSON(&m)
			talkerMsgs <- err
			if err != nil {
				return
			}
		}
	}()
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := silent.ReadMessage(); err != nil { // answers pings meanwhile
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a silent connection answering pings was still open after 10 s")
			}
			break
		}
	}
	closed := time.Since(start)
	if closed < 900*time.Millisecond || closed > 5*time.Second {
		t.Fatalf("silent connection closed after %v, want about 1 s", closed)
	}
	// The talker has lived past the deadline; it still gets answers.
	deadline := time.After(time.Second + 500*time.Millisecond) // the window under test, not synchronisation
	<-deadline
	talker.WriteJSON(signalproto.Message{Type: "dance"})
	select {
	case err := <-talkerMsgs:
		if err != nil {
			t.Fatalf("the connection that spoke was closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer on the connection that spoke")
	}
}

// TestUnfinishedOffersAreFreed floods a session with 200 WHEP offers whose peers never
// do ICE. Each holds a PeerConnection, its NACK buffer and goroutines until the
// connect deadline frees it; after that the viewers, goroutines and heap are back to
// their baseline. It prints the RSS and heap figures.
func TestUnfinishedOffersAreFreed(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) {
		c.MaxViewers, c.WebRTC.MaxViewers, c.WebRTC.ConnectTimeout = 250, 250, 3*time.Second
		noAnonymousCaps(c)
	})
	out, err := h.srv.Output("demo")
	if err != nil {
		t.Fatal(err)
	}
	offer := recvOffer(t)
	mem := func() (rssMiB, heapMiB float64) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(procstat.RSSKB(0)) / 1024, float64(ms.HeapInuse) / (1 << 20)
	}
	// Warm up: one offer, freed, so lazily built state is in the baseline.
	if rep := do(t, "POST", h.web+"/whep/demo", offer, sdpHeaders("")); rep.status != 201 {
		t.Fatalf("warm-up offer: %d %s", rep.status, rep.body)
	}
	waitFor(t, 15*time.Second, func() bool { return out.Viewers() == 0 }, "the warm-up viewer")
	http.DefaultClient.CloseIdleConnections()
	rss0, heap0 := mem()
	g0 := runtime.NumGoroutine()

	const n = 200
	if created, _, _ := tally(postConcurrently(offer, repeat(h.web+"/whep/demo", n), 20)); created != n {
		t.Fatalf("%d of %d offers answered", created, n)
	}
	// The peak is sampled while the viewers are held: their NACK buffers fill as the
	// session sends.
	held := out.Viewers()
	var rssPeak, heapPeak float64
	waitFor(t, 60*time.Second, func() bool {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rssPeak, heapPeak = max(rssPeak, float64(procstat.RSSKB(0))/1024), max(heapPeak, float64(ms.HeapInuse)/(1<<20))
		return out.Viewers() == 0
	}, "every unfinished viewer freed by the deadline")
	http.DefaultClient.CloseIdleConnections()
	waitFor(t, 15*time.Second, func() bool { return runtime.NumGoroutine() <= g0+5 }, "goroutines back to the baseline")
	rss1, heap1 := mem()
	t.Logf("%d unfinished offers: RSS %.0f → %.0f (holding %d) → %.0f MiB; Go heap in use %.1f → %.1f → %.1f MiB",
		n, rss0, rssPeak, held, rss1, heap0, heapPeak, heap1)
	if heap1 > heap0+10 {
		t.Fatalf("Go heap in use %.1f MiB after the flood was freed, baseline %.1f MiB", heap1, heap0)
	}
}

// postFrom posts offer to url from local address ip (any 127/8 address reaches a
// loopback listener on Linux), with authz as the Authorization header ("" for none).
func postFrom(ip, url, offer, authz string) reply {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", url, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return reply{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("Location")}
}

// TestUnconnectedOffersCappedPerAddressAndCredentialsKeepRoom replays an offer that
// never does ICE, as a flood would: each answered one holds a slot until the connect
// deadline. One address gets exactly its cap of unconnected viewers (4) and then 429,
// even all at once; another address still gets in; anonymous viewers fill at most
// their share of the host (8 of 10) and then get 503; offers with a credential (the
// host token on a public session, the viewer token of a private one) still get 201
// until the host itself is full.
func TestUnconnectedOffersCappedPerAddressAndCredentialsKeepRoom(t *testing.T) {
	h := viewersHost(t, func(c *server.Config) {
		c.MaxViewers = 10                          // anonymous: 4/5; unconnected per address: 4
		c.WebRTC.ConnectTimeout = 30 * time.Second // none is freed during the test
	})
	privateSession(t, h, "private", "")
	offer, demo, priv := recvOffer(t), h.web+"/whep/demo", h.web+"/whep/private"
	count := func(rs []reply) map[int]int {
		n := map[int]int{}
		for _, r := range rs {
			n[r.status]++
		}
		return n
	}
	burst := func(ip string, n int) map[int]int {
		rs := make([]reply, n)
		var wg sync.WaitGroup
		for i := range rs {
			wg.Add(1)
			go func() { defer wg.Done(); rs[i] = postFrom(ip, demo, offer, "") }()
		}
		wg.Wait()
		return count(rs)
	}
	if got := burst("127.0.0.1", 6); got[201] != 4 || got[429] != 2 {
		t.Fatalf("6 anonymous offers at once from one address: %v, want 4 × 201 and 2 × 429", got)
	}
	if r := postFrom("127.0.0.2", demo, offer, ""); r.status != 201 {
		t.Fatalf("an offer from another address: %d %s", r.status, r.body)
	}
	if r := postFrom("127.0.0.1", demo, offer, "Bearer "+token); r.status != 201 {
		t.Fatalf("an offer with the host token from the capped address: %d %s", r.status, r.body)
	}
	// 5 anonymous viewers held: 3 more fill the anonymous share.
	if got := burst("127.0.0.3", 4); got[201] != 3 || got[503] != 1 {
		t.Fatalf("4 anonymous offers with 3 anonymous slots left: %v, want 3 × 201 and 1 × 503", got)
	}
	if r := postFrom("127.0.0.4", demo, offer, "Bearer "+viewerToken); r.status != 503 {
		t.Fatalf("another session's viewer token on the public session counts as anonymous: got %d, want 503", r.status)
	}
	if r := postFrom("127.0.0.1", priv, offer, "Bearer "+viewerToken); r.status != 201 {
		t.Fatalf("a private session's viewer with the anonymous share full: %d %s", r.status, r.body)
	}
	if r := postFrom("127.0.0.5", priv, offer, "Bearer "+viewerToken); r.status != 503 {
		t.Fatalf("a credentialed offer with the host full: got %d, want 503", r.status)
	}
}
