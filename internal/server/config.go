package server

import (
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/record"
	"github.com/avhost/avhost/internal/rtcout"
	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/signaling"
	"github.com/avhost/avhost/internal/signalproto"
	"github.com/avhost/avhost/internal/viewers"
	"github.com/avhost/avhost/internal/wbout"
	"github.com/avhost/avhost/internal/whip"
)

// Config is `avhost serve`'s configuration (flags or the YAML file, LoadConfig). Each
// field's YAML key is its tag; the keys are the flag names with "_" for "-" where a
// flag exists (README's table maps the flags that sit in a section). avhost.yaml at
// the repository root lists every key with its default.
type Config struct {
	// Listen is the HTTP address; defaults to ":8080".
	Listen string `yaml:"listen"`
	// Token authenticates ingest and the demo's buttons. Empty: one is generated at
	// start and logged once. Also read from AVHOST_TOKEN.
	Token string `yaml:"token"`
	// AllowedOrigins lets other origins' pages use the WebSockets (same origin only by default).
	AllowedOrigins []string `yaml:"allowed_origins"`
	// MaxSessions caps sessions; defaults to 16.
	MaxSessions int `yaml:"max_sessions"`
	// MemoryBudgetMiB caps the sessions' estimated memory (session.Cost): a create
	// past it fails with memory_budget. Defaults to 3/4 of RAM (or of the cgroup's
	// limit); negative: no budget.
	MemoryBudgetMiB int64 `yaml:"memory_budget_mib"`
	// MaxSessionsPerConn defaults to 8, MaxConnsPerAddr to 16, MaxMessageBytes to 16 MiB.
	MaxSessionsPerConn int   `yaml:"max_sessions_per_conn"`
	MaxConnsPerAddr    int   `yaml:"max_conns_per_addr"`
	MaxMessageBytes    int64 `yaml:"max_message_bytes"`
	// PingInterval (default 20 s) and PongWait (default 3 pings): a WebSocket peer
	// silent for PongWait is closed and its sessions detached.
	PingInterval time.Duration `yaml:"ping_interval"`
	PongWait     time.Duration `yaml:"pong_wait"`
	// ResumeGrace keeps a disconnected client's sessions for resume; defaults to 30 s.
	ResumeGrace time.Duration `yaml:"resume_grace"`
	// Demo runs the built-in demo avatar in a session named "demo"; defaults to true.
	Demo *bool `yaml:"demo"`
	// DemoLoop makes the demo speak every so often; 0: only on the Speak button.
	// avhost serve defaults to 8 s (DefaultConfig); a zero Config to 0.
	DemoLoop time.Duration `yaml:"demo_loop"`
	// Net sets SO_REUSEPORT and per-socket TCP keepalive for every listener.
	Net netopt.Options `yaml:"net"`
	// RTSP serves sessions at rtsp://HOST:PORT/{session}; Address "-" disables it.
	RTSP rtspout.Config `yaml:"rtsp"`
	// Publish publishes sessions (by id) to WHIP endpoints, e.g. an SFU that fans out.
	Publish map[string]whip.Config `yaml:"publish"`
	// PublishAllow, if set, lists the only hosts ("host" or "host:port") WHIP
	// publishing may reach, wherever they resolve (loopback and private included);
	// defaults to any host at a public address (internal/whip/dial.go: loopback,
	// private, link-local, CGNAT and this host's own addresses are refused).
	PublishAllow []string `yaml:"publish_allow"`
	// PublishRetry bounds the retries of publications that do not set their own:
	// backoff 500 ms doubling to 30 s, and 10 failed attempts in a row, by default.
	PublishRetry whip.Retry `yaml:"publish_retry"`
	// HTTP holds the HTTP server's timeouts, header limit and connection caps
	// (defaults in HTTPConfig).
	HTTP HTTPConfig `yaml:"http"`
	// WebRTCBinBranch is the per-viewer branch of webrtcbin sessions; defaults to
	// pipelines/webrtcbin.pipeline's content (embedded).
	WebRTCBinBranch string `yaml:"webrtcbin_branch"`
	// WebRTC configures viewers (the ICE port, ICE servers, TURN, NAT 1:1 addresses,
	// viewer cap). Its ICE servers, and a TURN credential minted per viewer, are also
	// handed to viewers allowed to watch (WHEP Link headers, the /ws answer), so that
	// they gather relay candidates from the same TURN.
	WebRTC rtcout.Config `yaml:"webrtc"`
	// MaxViewers caps WebRTC viewers on the whole host, every session and both
	// backends, handshakes in flight included; defaults to 200. Per session the caps
	// are webrtc.MaxViewers (Pion, defaults to 100) and WebRTCBinMaxViewers.
	MaxViewers int `yaml:"max_viewers"`
	// MaxAnonymousViewers caps the host's viewers without a credential (the session's
	// viewer token or the host token), so that anonymous offers flooding public
	// sessions leave room for viewers who hold a token; defaults to 4/5 of MaxViewers
	// (160 of 200). Negative: no separate cap.
	MaxAnonymousViewers int `yaml:"max_anonymous_viewers"`
	// MaxPendingViewersPerAddr caps the anonymous viewers of one client address
	// (an IPv4 address or an IPv6 /64) not yet connected, on the whole host (429 past
	// it); defaults to 4. An offer that never does ICE holds its slot until
	// webrtc.connect_timeout, so without it a few offers a second from one address
	// hold every slot. Negative: no cap.
	MaxPendingViewersPerAddr int `yaml:"max_pending_viewers_per_addr"`
	// WebRTCBinMaxViewers caps the viewers of one webrtcbin session; defaults to 20
	// (each is a whole webrtcbin in the pipeline, ≈8 threads).
	WebRTCBinMaxViewers int `yaml:"webrtcbin_max_viewers"`
	// WS caps and times /ws signaling connections (defaults in signaling.Limits).
	WS signaling.Limits `yaml:"ws"`
	// Admission bounds handshakes in flight and reclaims memory after bursts, so
	// floods do not reach established viewers (defaults in AdmissionConfig).
	Admission AdmissionConfig `yaml:"admission"`
	// Record records sessions live to disk (docs/recording.md).
	Record RecordConfig `yaml:"record"`
	// Session holds defaults for sessions (size, fps, rate, pipeline template).
	Session session.Config `yaml:"session"`
	Log     *slog.Logger   `yaml:"-"`
}

// RecordConfig is the record section: where recordings go and which sessions are
// recorded from their start. POST /api/sessions/{id}/record starts others; a request
// may set the segment length (within record.MinSegment…MaxSegment), never a path.
type RecordConfig struct {
	// Dir holds the recordings, a directory per session; defaults to "recordings"
	// (relative to avhost's working directory).
	Dir string `yaml:"dir"`
	// Segment is a segment's length; defaults to 60 s (1 s to 1 h).
	Segment time.Duration `yaml:"segment"`
	// MaxBytes caps each session's recordings on disk, the oldest segments deleted
	// first; defaults to 1 GiB (at least 4 MiB). The disk used is at most
	// max_sessions × max_bytes.
	MaxBytes int64 `yaml:"max_bytes"`
	// Sessions are recorded from their creation, by id; defaults to none.
	Sessions []string `yaml:"sessions"`
	// All records every session from its creation; defaults to false.
	All bool `yaml:"all"`
}

// DefaultMaxViewers and DefaultMaxPendingViewersPerAddr are Config's defaults.
const (
	DefaultMaxViewers               = 200
	DefaultMaxPendingViewersPerAddr = 4
)

// DefaultConfig is avhost serve's configuration before the file and the flags: every
// default that does not depend on another field. The ones that do (pong_wait,
// max_anonymous_viewers, rtsp.udp_rtcp) and the ones measured at start
// (memory_budget_mib, admission.handshakes and queue, session.max_frames) stay zero
// here, and WithDefaults fills them, so that a file which sets ping_interval also
// moves pong_wait.
func DefaultConfig() Config {
	c := Config{DemoLoop: 8 * time.Second}
	// The one ICE port is avhost serve's default; a zero Config (tests, embedding)
	// keeps ephemeral ports, so that several hosts on one machine do not collide.
	c.WebRTC.ICEUDP, c.WebRTC.ICETCP = rtcout.DefaultICEPort, rtcout.DefaultICEPort
	c.fillStatic()
	return c
}

// WithDefaults is c with every zero field that has a default set to it: the one place
// the host's defaults are applied (the packages below keep their own for direct use,
// equal to these). New calls it.
func (c Config) WithDefaults() Config {
	c.fillStatic()
	if c.PongWait == 0 {
		c.PongWait = 3 * c.PingInterval
	}
	if c.MaxAnonymousViewers == 0 {
		c.MaxAnonymousViewers = c.MaxViewers * 4 / 5
	}
	if c.RTSP.UDPRTCP == "" && c.RTSP.UDPRTP != "-" {
		// RTCP goes on the port after RTP's (RFC 3550 §11); port 0 picks its own.
		if host, port, err := net.SplitHostPort(c.RTSP.UDPRTP); err == nil {
			if p, err := strconv.Atoi(port); err == nil && p > 0 {
				c.RTSP.UDPRTCP = net.JoinHostPort(host, strconv.Itoa(p+1))
			}
		}
	}
	return c
}

// fillStatic sets the zero fields whose defaults are constants. Demo is a fresh
// pointer each time, so that decoding "demo: false" into one Config never changes
// another's.
func (c *Config) fillStatic() {
	str := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	num := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	str(&c.Listen, ":8080")
	num(&c.MaxSessions, 16)
	num(&c.MaxSessionsPerConn, 8)
	num(&c.MaxConnsPerAddr, 16)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 16 << 20
	}
	dur(&c.PingInterval, 20*time.Second)
	dur(&c.ResumeGrace, 30*time.Second)
	if c.Demo == nil {
		c.Demo = new(bool)
		*c.Demo = true
	}
	dur(&c.Net.KeepAliveIdle, 600*time.Second)
	dur(&c.Net.KeepAliveInterval, 30*time.Second)
	num(&c.Net.KeepAliveCount, 3)

	r := &c.RTSP
	str(&r.Address, ":8554")
	str(&r.UDPRTP, ":8000")
	num(&r.MaxConns, 1000)
	num(&r.MaxConnsPerAddr, 64)
	num(&r.MaxReaders, 100)
	dur(&r.IdleTimeout, 10*time.Second)

	dur(&c.PublishRetry.MinBackoff, 500*time.Millisecond)
	dur(&c.PublishRetry.MaxBackoff, 30*time.Second)
	num(&c.PublishRetry.MaxAttempts, 10)

	h := &c.HTTP
	dur(&h.ReadHeaderTimeout, 5*time.Second)
	dur(&h.ReadTimeout, 10*time.Second)
	dur(&h.WriteTimeout, 30*time.Second)
	dur(&h.IdleTimeout, 60*time.Second)
	num(&h.MaxHeaderBytes, 32<<10)
	num(&h.MaxConns, DefaultHTTPMaxConns)
	num(&h.MaxConnsPerAddr, DefaultHTTPMaxConnsPerAddr)

	w := &c.WebRTC
	if w.NACKBuffer == 0 {
		w.NACKBuffer = rtcout.DefaultNACKBuffer
	}
	dur(&w.ConnectTimeout, viewers.DefaultConnectTimeout)
	dur(&w.TURN.TTL, rtcout.DefaultTURNTTL)
	num(&w.MaxViewers, 100)
	num(&c.MaxViewers, DefaultMaxViewers)
	num(&c.MaxPendingViewersPerAddr, DefaultMaxPendingViewersPerAddr)
	num(&c.WebRTCBinMaxViewers, wbout.DefaultMaxViewers)

	num(&c.WS.MaxConns, signaling.DefaultMaxConns)
	num(&c.WS.MaxConnsPerAddr, signaling.DefaultMaxConnsPerAddr)
	dur(&c.WS.FirstMessage, signaling.DefaultFirstMessage)
	dur(&c.WS.IdleWithoutViewer, signaling.DefaultIdleWithoutViewer)
	num(&c.WS.MaxViewersPerConn, signaling.DefaultMaxViewersPerConn)

	dur(&c.Admission.QueueWait, 2*time.Second)
	dur(&c.Admission.ReclaimPeriod, 10*time.Second)

	str(&c.Record.Dir, "recordings")
	dur(&c.Record.Segment, record.DefaultSegment)
	if c.Record.MaxBytes == 0 {
		c.Record.MaxBytes = record.DefaultMaxBytes
	}

	s := &c.Session
	num(&s.Width, 512)
	num(&s.Height, 512)
	str(&s.FPS, "25")
	str(&s.Format, "BGR")
	num(&s.Rate, 24000)
	num(&s.Channels, 1)
	dur(&s.MaxQueue, 20*time.Second)
	if s.MaxQueueBytes == 0 {
		s.MaxQueueBytes = session.DefaultMaxQueueBytes
	}
	str(&s.Backend, "pion")
	dur(&s.Lead, 60*time.Millisecond)
	str(&s.Ladder, "on")
}

// wsICEServers is ICE servers as /ws answers carry them (password credentials:
// LoadConfig refuses any other).
func wsICEServers(servers []webrtc.ICEServer) []signalproto.ICEServer {
	var out []signalproto.ICEServer
	for _, s := range viewerICEServers(servers) {
		out = append(out, signalproto.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// viewerICEServers is webrtc.ice_servers in the viewers contract's form, for WHEP.
func viewerICEServers(servers []webrtc.ICEServer) []viewers.ICEServer {
	var out []viewers.ICEServer
	for _, s := range servers {
		cred, _ := s.Credential.(string)
		out = append(out, viewers.ICEServer{URLs: s.URLs, Username: s.Username, Credential: cred})
	}
	return out
}
