package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/avhost/avhost/internal/server"
)

const serveHelp = `Usage: avhost serve [flags]

Runs the host: sessions created through the ingest WebSocket (docs/ingest.md), the
built-in demo avatar in session "demo", /healthz, /metrics and a page at /.

Settings come from the optional YAML file (-config), then from flags. The ingest
token comes from -token, else AVHOST_TOKEN, else the file; with none set one is
generated at start and printed once (a token you gave is never printed).

Flags:
`

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), serveHelp); fs.PrintDefaults() }
	// The flags' defaults are the configuration's, so that help, file and flags agree.
	d := server.DefaultConfig()
	cfgFile := fs.String("config", "", "YAML configuration file (avhost.yaml lists every key; keys are the flags with _ for -)")
	listen := fs.String("listen", d.Listen, "HTTP address for the page, ingest (/ingest), /healthz and /metrics")
	token := fs.String("token", "", "bearer token for ingest and the demo buttons (default: $AVHOST_TOKEN, else generated)")
	origins := fs.String("allowed-origins", "", "comma-separated extra origins allowed to open WebSockets (default: same origin only)")
	publishAllow := fs.String("publish-allow", "", "comma-separated hosts (host or host:port) WHIP publishing may reach, at whatever address they resolve to, loopback and private included (default: any host at a public address; loopback, private, link-local, CGNAT and this host's own addresses are refused)")
	maxSessions := fs.Int("max-sessions", d.MaxSessions, "most sessions on this host")
	memBudget := fs.Int64("memory-budget-mib", d.MemoryBudgetMiB, "most MiB the sessions' estimated memory may add up to (0: 3/4 of RAM; -1: no budget)")
	perConn := fs.Int("max-sessions-per-conn", d.MaxSessionsPerConn, "most sessions one ingest connection may drive")
	perAddr := fs.Int("max-conns-per-addr", d.MaxConnsPerAddr, "most ingest connections from one client address")
	maxMsg := fs.Int64("max-message-bytes", d.MaxMessageBytes, "largest ingest message (send big frames as JPEG)")
	demo := fs.Bool("demo", *d.Demo, "run the demo avatar in session \"demo\"")
	loop := fs.Duration("demo-loop", d.DemoLoop, "the demo speaks this often (0: only on the Speak button)")
	width := fs.Int("width", d.Session.Width, "default session frame width")
	height := fs.Int("height", d.Session.Height, "default session frame height")
	fps := fs.String("fps", d.Session.FPS, "default session frame rate")
	rtsp := fs.String("rtsp", d.RTSP.Address, "RTSP address serving rtsp://HOST:PORT/{session} (\"-\": off)")
	rtspUDP := fs.String("rtsp-udp", d.RTSP.UDPRTP, "RTSP UDP RTP address, RTCP on the next port (\"-\": TCP only)")
	rtspUser := fs.String("rtsp-user", "", "RTSP Digest user for public sessions (with -rtsp-pass; default: public sessions open). A private session takes its viewer token, or the host token, as the password with any user")
	rtspPass := fs.String("rtsp-pass", "", "RTSP Digest password for public sessions (with -rtsp-user)")
	reusePort := fs.Bool("reuseport", d.Net.ReusePort, "SO_REUSEPORT on every listener, so a second avhost can take over the ports (hitless restart)")
	kaIdle := fs.Duration("keepalive-idle", d.Net.KeepAliveIdle, "per-socket TCP keepalive idle time (tcp_keepalive_time)")
	kaIntvl := fs.Duration("keepalive-interval", d.Net.KeepAliveInterval, "per-socket TCP keepalive probe interval (tcp_keepalive_intvl)")
	kaCount := fs.Int("keepalive-count", d.Net.KeepAliveCount, "per-socket TCP keepalive probes before the peer is dead (tcp_keepalive_probes)")
	pidfile := fs.String("pidfile", "", "hitless restart: write our pid here; an avhost whose pid is there already is told to hand over (use with -reuseport)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM or hand-over: how long the stop may take (playing utterances and requests in flight end first)")
	ping := fs.Duration("ping-interval", d.PingInterval, "WebSocket heartbeat: ping every so often; a peer silent for 3 pings is closed")
	backend := fs.String("backend", d.Session.Backend, "default WebRTC backend of sessions: pion, or webrtcbin (a webrtcbin per viewer)")
	wbBranch := fs.String("webrtcbin-branch", "", "file with the per-viewer webrtcbin branch (default: pipelines/webrtcbin.pipeline, built in)")
	jsonLogs := fs.Bool("json-logs", false, "structured logs as JSON")
	iceUDP := fs.String("ice-udp", d.WebRTC.ICEUDP, "webrtc.ice_udp: the one UDP port of every Pion viewer and the WHIP publisher (\"-\": ephemeral ports per viewer)")
	iceTCP := fs.String("ice-tcp", d.WebRTC.ICETCP, "webrtc.ice_tcp: ICE-TCP (passive) for viewers whose network drops UDP (\"-\": off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := d
	if *cfgFile != "" {
		b, err := os.ReadFile(*cfgFile)
		if err != nil {
			return err
		}
		if cfg, err = server.LoadConfig(b); err != nil {
			return fmt.Errorf("%s: %w", *cfgFile, err)
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pick := func(name string, apply func()) {
		if set[name] || *cfgFile == "" {
			apply()
		}
	}
	pick("listen", func() { cfg.Listen = *listen })
	pick("max-sessions", func() { cfg.MaxSessions = *maxSessions })
	pick("memory-budget-mib", func() { cfg.MemoryBudgetMiB = *memBudget })
	pick("max-sessions-per-conn", func() { cfg.MaxSessionsPerConn = *perConn })
	pick("max-conns-per-addr", func() { cfg.MaxConnsPerAddr = *perAddr })
	pick("max-message-bytes", func() { cfg.MaxMessageBytes = *maxMsg })
	pick("demo", func() { cfg.Demo = demo })
	pick("demo-loop", func() { cfg.DemoLoop = *loop })
	pick("width", func() { cfg.Session.Width = *width })
	pick("height", func() { cfg.Session.Height = *height })
	pick("fps", func() { cfg.Session.FPS = *fps })
	pick("rtsp", func() { cfg.RTSP.Address = *rtsp })
	pick("backend", func() { cfg.Session.Backend = *backend })
	pick("ping-interval", func() { cfg.PingInterval = *ping })
	pick("ice-udp", func() { cfg.WebRTC.ICEUDP = *iceUDP })
	pick("ice-tcp", func() { cfg.WebRTC.ICETCP = *iceTCP })
	if *wbBranch != "" {
		b, err := os.ReadFile(*wbBranch)
		if err != nil {
			return err
		}
		cfg.WebRTCBinBranch = string(b)
	}
	pick("reuseport", func() { cfg.Net.ReusePort = *reusePort })
	pick("keepalive-idle", func() { cfg.Net.KeepAliveIdle = *kaIdle })
	pick("keepalive-interval", func() { cfg.Net.KeepAliveInterval = *kaIntvl })
	pick("keepalive-count", func() { cfg.Net.KeepAliveCount = *kaCount })
	pick("rtsp-udp", func() { cfg.RTSP.UDPRTP, cfg.RTSP.UDPRTCP = *rtspUDP, "" }) // RTCP: the next port (WithDefaults)
	pick("rtsp-user", func() { cfg.RTSP.User = *rtspUser })
	pick("rtsp-pass", func() { cfg.RTSP.Pass = *rtspPass })
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	if *publishAllow != "" {
		cfg.PublishAllow = strings.Split(*publishAllow, ",")
	}
	switch {
	case *token != "":
		cfg.Token = *token
	case os.Getenv("AVHOST_TOKEN") != "":
		cfg.Token = os.Getenv("AVHOST_TOKEN")
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *jsonLogs {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	cfg.Log = slog.New(h)
	generated := cfg.Token == ""
	initGst()
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	// The token goes in the fragment, which the browser never sends: the page reads it
	// and wipes it from the address bar. A token the operator chose is theirs to know.
	if page := "http://localhost" + portOf(srv.Addr().String()) + "/"; generated {
		fmt.Fprintf(os.Stderr, "avhost: generated a token for this run; open %s#token=%s\n", page, srv.Token())
	} else {
		fmt.Fprintf(os.Stderr, "avhost: open %s#token=YOUR_TOKEN (or enter it on the page)\n", page)
	}
	if *pidfile != "" {
		takeOver(*pidfile, cfg.Log)
	}
	<-ctx.Done()
	// One budget for the whole stop, so that SIGTERM ends within -drain-timeout, with
	// status 0 however the clients behave: utterances and requests in flight get all
	// of it but the closing of the sessions (a quarter, at most 2 s); what is still
	// open then is cut.
	stopBy := time.Now().Add(*drain - min(*drain/4, 2*time.Second))
	dctx, cancel := context.WithDeadline(context.Background(), stopBy)
	defer cancel()
	cfg.Log.Info("draining: no new connections, letting utterances finish", "timeout", *drain)
	srv.Drain(dctx)
	cfg.Log.Info("shutting down: telling clients to reconnect, closing sessions")
	return srv.Shutdown(dctx)
}

func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return addr
}
