// Package ingest is the WebSocket endpoint model servers feed avhost through: one
// persistent connection per client, carrying one or more sessions (docs/ingest.md).
package ingest

import (
	"log/slog"
	"time"

	"github.com/avhost/avhost/internal/session"
)

// Config configures the ingest endpoint. Zero fields take the defaults named.
type Config struct {
	// Token is the bearer token clients must present; required.
	Token string
	// AllowedOrigins are extra browser origins allowed to upgrade; by default only
	// same-origin browser requests (and non-browser clients, which send no Origin).
	AllowedOrigins []string
	// MaxMessage caps one message in bytes; defaults to 16 MiB (a 4K BGR frame is 25 MB:
	// send such frames as JPEG).
	MaxMessage int64
	// MaxSessionsPerConn defaults to 8; MaxConnsPerAddr to 16.
	MaxSessionsPerConn int
	MaxConnsPerAddr    int
	// PingInterval defaults to 20 s; a peer silent for PongWait (default 3 pings) is
	// closed and its sessions detached.
	PingInterval time.Duration
	PongWait     time.Duration
	// ResumeGrace keeps a disconnected client's sessions for this long so it can
	// resume them (default 30 s); its playing utterance is cut at once.
	ResumeGrace time.Duration
	// Defaults fill what a create message leaves out.
	Defaults session.Config
	Sessions *session.Manager
	Log      *slog.Logger
}

func (c *Config) fill() {
	if c.MaxMessage == 0 {
		c.MaxMessage = 16 << 20
	}
	if c.MaxSessionsPerConn == 0 {
		c.MaxSessionsPerConn = 8
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = 16
	}
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongWait == 0 {
		c.PongWait = 3 * c.PingInterval
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}
