// Package server is `avhost serve`: the HTTP server around the sessions — the ingest
// WebSocket, /healthz, /metrics, a JSON session list, the demo page and its buttons.
package server

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/ingest"
	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/record"
	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signaling"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/viewers"
	"github.com/avhost/avhost/internal/wbout"
	"github.com/avhost/avhost/internal/whep"
	"github.com/avhost/avhost/internal/whip"
	"github.com/avhost/avhost/pipelines"
)

//go:embed web
var web embed.FS

// Server is a running avhost serve.
type Server struct {
	cfg      Config
	Sessions *session.Manager
	ingest   *ingest.Server
	http     *http.Server
	ln       net.Listener
	demo     *demo.Avatar

	rtsp *rtspout.Server

	hmu    sync.Mutex
	hosted map[string]*hosted // by session id: what serves each session's media

	tickets auth.Tickets
	iceMux  *rtcout.ICEMux // the host's one ICE port, bound in Start; nil: ephemeral ports
}

// hosted is what the server runs for one session whose pipeline ends in the vout/aout
// appsinks: its stream and the outputs that read it.
type hosted struct {
	stream *stream.Stream
	pion   *rtcout.Output   // Pion viewers; also the WebRTC side of WHIP publishing
	wb     *wbout.Output    // webrtcbin viewers, for a webrtcbin session; else nil
	pub    *whip.Publisher  // guarded by Server.hmu; nil when not publishing
	rec    *record.Recorder // guarded by Server.hmu; nil when not recording
}

// backend is what serves the session's WebRTC viewers.
func (h *hosted) backend() viewers.Backend {
	if h.wb != nil {
		return h.wb
	}
	return h.pion
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := checkPublishConfig(cfg); err != nil {
		return nil, err
	}
	if err := checkRecordConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Token == "" {
		cfg.Token = auth.RandomID(16)
		cfg.Log.Info("no token configured: generated one for this run") // avhost serve prints it once; never in a log
	} else if len(cfg.Token) < 16 {
		cfg.Log.Warn("the host token is shorter than 16 characters: it can be guessed (openssl rand -hex 16 makes a good one)")
	}
	cfg.WebRTC.Host = viewers.NewSlots(viewers.HostCaps{Max: cfg.MaxViewers, Anonymous: cfg.MaxAnonymousViewers,
		PendingPerAddr: cfg.MaxPendingViewersPerAddr})
	s := &Server{cfg: cfg, Sessions: &session.Manager{MaxSessions: cfg.MaxSessions, MemoryBudget: cfg.MemoryBudgetMiB << 20, Log: cfg.Log}, hosted: map[string]*hosted{}}
	s.Sessions.OnCreate = s.attach
	if cfg.RTSP.Address != "-" {
		rc := cfg.RTSP
		rc.Log, rc.Net, rc.HostToken = cfg.Log, cfg.Net, cfg.Token
		s.rtsp = rtspout.New(rc)
	}
	s.ingest = ingest.New(ingest.Config{
		Token: cfg.Token, AllowedOrigins: cfg.AllowedOrigins, MaxMessage: cfg.MaxMessageBytes,
		MaxSessionsPerConn: cfg.MaxSessionsPerConn, MaxConnsPerAddr: cfg.MaxConnsPerAddr,
		PingInterval: cfg.PingInterval, PongWait: cfg.PongWait, ResumeGrace: cfg.ResumeGrace,
		Defaults: cfg.Session, Sessions: s.Sessions, Log: cfg.Log,
	})
	mux := http.NewServeMux()
	mux.Handle("GET /ingest", s.ingest)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", metricsHandler(s.Sessions, s.media, s.isHost))
	mux.HandleFunc("GET /api/sessions", s.listSessions)
	mux.HandleFunc("POST /api/tickets", s.issueTicket)
	mux.HandleFunc("POST /api/sessions/{id}/speak", s.authed(s.speak))
	mux.HandleFunc("POST /api/sessions/{id}/interrupt", s.authed(s.interrupt))
	mux.HandleFunc("POST /api/sessions/{id}/whip", s.authed(s.startPublish))
	mux.HandleFunc("DELETE /api/sessions/{id}/whip", s.authed(s.stopPublish))
	mux.HandleFunc("GET /api/sessions/{id}/whip", s.authed(s.publishStatus))
	mux.HandleFunc("POST /api/sessions/{id}/record", s.authed(s.startRecord))
	mux.HandleFunc("DELETE /api/sessions/{id}/record", s.authed(s.stopRecord))
	mux.HandleFunc("GET /api/sessions/{id}/record", s.authed(s.recordStatus))
	// Each answer gets the static servers and a TURN credential of its own.
	viewerICE := func() []webrtc.ICEServer { return cfg.WebRTC.ICEServersFor(time.Now()) }
	(&whep.Handler{Outputs: s, Authorize: s.viewerAllowed, IsHost: s.isHostToken, Credentialed: s.credentialed,
		ICEServers: func() []viewers.ICEServer { return viewerICEServers(viewerICE()) }}).Register(mux)
	mux.Handle("GET /ws", &signaling.Handler{Outputs: s, CheckOrigin: s.ingestOrigin, PingInterval: cfg.PingInterval,
		Credential: s.wsCredential, Authorize: s.viewerAllowed, Credentialed: s.credentialed, OnInterrupt: s.onInterrupt, OnSpeech: s.onSpeech, Limits: cfg.WS,
		ICEServers: func() []signalproto.ICEServer { return wsICEServers(viewerICE()) }})
	mux.Handle("GET /", http.FileServerFS(mustSub(web, "web")))
	s.http = newHTTPServer(securityHeaders(mux), cfg.HTTP)
	isolate(s.http, cfg.Admission)
	return s, nil
}

// attach gives a session whose pipeline ends in vout/aout appsinks its stream, and
// the outputs reading it: Pion viewers (or webrtcbin ones), RTSP, WHIP publishing.
func (s *Server) attach(sess *session.Session) error {
	p := sess.Pipeline()
	if _, err := p.GetElementByName(pipelines.VideoSink); err != nil {
		return nil // a custom pipeline without WebRTC branches
	}
	log := s.cfg.Log.With("session", sess.ID)
	st, err := stream.New(p, streamConfig(p, sess.Config(), log))
	if err != nil {
		return err
	}
	cfg := s.cfg.WebRTC
	cfg.Log = log
	h := &hosted{stream: st}
	if h.pion, err = rtcout.New(st, cfg); err != nil {
		st.Close()
		return err
	}
	if sess.Config().Backend == "webrtcbin" {
		// webrtcbin is an ICE agent of its own: it gets the viewers' STUN/TURN servers,
		// with a TURN credential minted for each of its viewers.
		ice := func() []viewers.ICEServer { return viewerICEServers(cfg.ICEServersFor(time.Now())) }
		if h.wb, err = wbout.New(p, wbout.Config{Branch: s.cfg.WebRTCBinBranch, MaxViewers: s.cfg.WebRTCBinMaxViewers,
			ConnectTimeout: cfg.ConnectTimeout, Host: cfg.Host, ICEServers: ice, Log: log}); err != nil {
			h.pion.Close()
			st.Close()
			return err
		}
	}
	s.hmu.Lock()
	s.hosted[sess.ID] = h
	s.hmu.Unlock()
	s.attachSpeech(sess, h)
	if s.rtsp != nil {
		if err := s.rtsp.Attach(sess.ID, st, rtspout.Access{ViewerToken: sess.Config().ViewerToken}); err != nil {
			log.Warn("not served over RTSP", "err", err)
		}
	}
	if pc, ok := s.cfg.Publish[sess.ID]; ok {
		s.publish(sess.ID, pc)
	}
	if s.recordsFromStart(sess.ID) {
		if _, err := s.startRecording(sess, 0); err != nil {
			log.Error("not recorded", "err", err)
		}
	}
	sess.OnClose(func() {
		s.hmu.Lock()
		delete(s.hosted, sess.ID)
		pub, rec := h.pub, h.rec
		h.pub, h.rec = nil, nil
		s.hmu.Unlock()
		if pub != nil {
			pub.Stop()
		}
		if rec != nil {
			rec.Close() // finishes the current segment, before the stream ends
		}
		if h.wb != nil {
			h.wb.Close()
		}
		if s.rtsp != nil {
			s.rtsp.Detach(sess.ID)
		}
		h.pion.Close()
		st.Close()
	})
	return nil
}

// find returns what the server runs for session id.
func (s *Server) find(id string) (*hosted, error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if h := s.hosted[id]; h != nil {
		return h, nil
	}
	return nil, session.ErrNotFound
}

// Viewers returns what serves a session's WebRTC viewers: its webrtcbin output for a
// webrtcbin session, else its Pion output (viewers.Outputs).
func (s *Server) Viewers(id string) (viewers.Backend, error) {
	h, err := s.find(id)
	if err != nil {
		return nil, err
	}
	return h.backend(), nil
}

// Output returns a session's Pion output.
func (s *Server) Output(id string) (*rtcout.Output, error) {
	h, err := s.find(id)
	if err != nil {
		return nil, err
	}
	return h.pion, nil
}

// Stream returns a session's encoded media.
func (s *Server) Stream(id string) (*stream.Stream, error) {
	h, err := s.find(id)
	if err != nil {
		return nil, err
	}
	return h.stream, nil
}

// media is what the metrics read of a session: its viewers (either backend) and its
// stream.
func (s *Server) media(id string) (viewers.Backend, *stream.Stream, error) {
	h, err := s.find(id)
	if err != nil {
		return nil, nil, err
	}
	return h.backend(), h.stream, nil
}

func (s *Server) ingestOrigin(r *http.Request) bool { return s.ingest.CheckOrigin(r) }

// viewerAllowed says whether cred (a bearer token or what a /ws ticket stood for; ""
// for none) may watch session id: a session with a viewer token needs it or the host's
// token, others are open. An unknown session is refused too, so the handlers answer a
// refusal and an unknown session alike.
func (s *Server) viewerAllowed(cred, id string) bool {
	sess, err := s.Sessions.Get(id)
	if err != nil {
		return false
	}
	vt := sess.Config().ViewerToken
	return vt == "" || auth.Equal(cred, vt) || s.isHostToken(cred)
}

// isHostToken: cred is the host token (it may end any WHEP viewer).
func (s *Server) isHostToken(cred string) bool { return auth.Equal(cred, s.cfg.Token) }

// credentialed: cred admits to session id by itself, being the host token or the
// session's viewer token. On a public session anyone is allowed (viewerAllowed), but
// only these escape the host's anonymous caps.
func (s *Server) credentialed(cred, id string) bool {
	if cred == "" {
		return false
	}
	if s.isHostToken(cred) {
		return true
	}
	sess, err := s.Sessions.Get(id)
	if err != nil {
		return false
	}
	vt := sess.Config().ViewerToken
	return vt != "" && auth.Equal(cred, vt)
}

// onInterrupt watches a session's interrupts for /ws viewers (a no-op for unknown ones).
func (s *Server) onInterrupt(id string, f func()) (cancel func()) {
	sess, err := s.Sessions.Get(id)
	if err != nil {
		return func() {}
	}
	return sess.OnInterrupt(f)
}

// DropIngestConnections cuts every ingest connection as a network failure would.
func (s *Server) DropIngestConnections() { s.ingest.Drop() }

// Token is the ingest token in force.
func (s *Server) Token() string { return s.cfg.Token }

// Addr is the bound address (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Start binds and serves in the background, and starts the demo session if enabled.
func (s *Server) Start() error {
	ln, err := netopt.Listen(context.Background(), "tcp", s.cfg.Listen, s.cfg.Net)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.Listen, err)
	}
	ln = limitConns(ln, s.cfg.HTTP)
	s.ln = ln
	w := s.cfg.WebRTC
	// ICE-TCP connections are capped like HTTP's: a viewer opens a few (one per
	// candidate pair), so 4 per host viewer in all and 64 per client address.
	capTCP := func(l net.Listener) net.Listener {
		return limitConns(l, HTTPConfig{MaxConns: 4 * max(s.cfg.MaxViewers, 1), MaxConnsPerAddr: ICETCPMaxConnsPerAddr})
	}
	if s.iceMux, err = rtcout.NewICEMux(rtcout.ICEMuxConfig{UDP: w.ICEUDP, TCP: w.ICETCP, Interfaces: w.ICEInterfaces,
		Net: s.cfg.Net, WrapTCP: capTCP}); err != nil {
		ln.Close()
		return fmt.Errorf("server: %w", err)
	}
	s.cfg.WebRTC.Mux = s.iceMux // every session's output from here on shares it
	if s.iceMux != nil {
		s.cfg.Log.Info("ICE port", "udp", addrString(s.iceMux.UDPAddr()), "tcp", addrString(s.iceMux.TCPAddr()))
	}
	if s.rtsp != nil {
		if err := s.rtsp.Start(); err != nil {
			ln.Close()
			s.iceMux.Close()
			return err
		}
	}
	if s.cfg.Demo == nil || *s.cfg.Demo {
		cfg := s.cfg.Session
		cfg.ID = "demo"
		sess, err := s.Sessions.Create(cfg)
		if err != nil {
			ln.Close()
			s.iceMux.Close()
			return fmt.Errorf("server: demo session: %w", err)
		}
		if s.demo, err = demo.Start(sess, s.cfg.DemoLoop); err != nil {
			ln.Close()
			s.iceMux.Close()
			return err
		}
	}
	go s.http.Serve(ln)
	s.cfg.Log.Info("avhost serving", "addr", ln.Addr().String())
	return nil
}

// Drain is the first half of a graceful stop or a hitless restart: stop accepting
// (with SO_REUSEPORT another avhost on the port takes the new connections; with
// net.ipv4.tcp_migrate_req=1 even those queued here move to it), then let every
// playing utterance finish, up to ctx's deadline. Shutdown follows.
func (s *Server) Drain(ctx context.Context) {
	s.ln.Close()
	if s.demo != nil {
		s.demo.Stop()
	}
	for {
		busy := false
		for _, ss := range s.Sessions.List() {
			if ss.Current() != nil {
				busy = true
			}
		}
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Shutdown tells clients to reconnect (1001 going away: they land on whichever avhost
// now holds the port), waits until ctx's deadline for requests in flight, cuts those
// still open (a slow or stuck client does not hold the stop up, nor make it a
// failure), closes the sessions (cutting what still plays) and stops.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ingest.Shutdown()
	if s.demo != nil {
		s.demo.Stop()
	}
	err := s.http.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) { // Drain closed the listener already
		err = nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.cfg.Log.Warn("shutdown: cutting HTTP requests still in flight at the deadline")
		s.http.Close()
		err = nil
	}
	s.Sessions.CloseAll()
	if s.rtsp != nil {
		s.rtsp.Close()
	}
	s.iceMux.Close() // after the sessions: no PeerConnection is left on it
	return err
}

// ICETCPMaxConnsPerAddr caps one client address's (netopt.ClientKey) connections to
// the ICE-TCP port: room for a NATed office of viewers, not for a descriptor flood.
const ICETCPMaxConnsPerAddr = 64

// ICEAddrs are the host's ICE UDP and TCP addresses (nil for one that is off).
func (s *Server) ICEAddrs() (udp, tcp net.Addr) { return s.iceMux.UDPAddr(), s.iceMux.TCPAddr() }

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// authed lets h answer callers with the host token in an Authorization header (never a
// URL query: proxies log those).
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.isHost(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="avhost"`)
			http.Error(w, "needs the host token as a bearer token", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// isHost: the request carries the host token.
func (s *Server) isHost(r *http.Request) bool { return s.isHostToken(auth.Bearer(r)) }

type sessionInfo struct {
	ID         string  `json:"id"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	FPS        string  `json:"fps"`
	Chunks     uint64  `json:"audio_chunks"`
	Frames     uint64  `json:"video_frames"`
	Underruns  uint64  `json:"underruns"`
	Utterances uint64  `json:"utterances"`
	Interrupts uint64  `json:"interrupts"`
	QueuedMS   float64 `json:"queued_ms"`
	Private    bool    `json:"private,omitempty"`
}

// listSessions is GET /api/sessions: every session for the host token, else the public
// ones only (a private session's id is not for everyone; see metricsHandler).
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	host := s.isHost(r)
	out := []sessionInfo{}
	for _, ss := range s.Sessions.List() {
		c, st := ss.Config(), ss.Stats()
		if c.ViewerToken != "" && !host {
			continue
		}
		out = append(out, sessionInfo{ID: ss.ID, Width: c.Width, Height: c.Height, FPS: c.FPS, Private: c.ViewerToken != "",
			Chunks: st.Audio.Chunks, Frames: st.Video.Frames, Underruns: st.Audio.Underruns,
			Utterances: st.Utterances, Interrupts: st.Interrupts, QueuedMS: st.LagMS})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) speak(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != "demo" || s.demo == nil {
		http.Error(w, "only the demo session speaks on a button", http.StatusNotFound)
		return
	}
	if err := s.demo.Speak(); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, demo.ErrSpeaking) {
			status = http.StatusConflict
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) interrupt(w http.ResponseWriter, r *http.Request) {
	ss, err := s.Sessions.Get(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	_, pos, ok := ss.Interrupt()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"interrupted": ok, "played_ms": pos.Played.Milliseconds()})
}
