package server

import (
	"net/http"
	"time"
)

// HTTPConfig bounds what one HTTP client can hold: a connection that sends its
// headers or body slowly (slowloris), reads its answer slowly, or idles between
// requests is cut at these deadlines.
//
// WebSockets (/ingest, /ws) are not held to them: gorilla/websocket clears the
// connection's deadlines on upgrade, and each then keeps its own (ping/pong).
type HTTPConfig struct {
	// ReadHeaderTimeout is the time to send the request line and headers; defaults
	// to 5 s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is the time to send the whole request, body included; defaults to
	// 10 s. Request bodies here are small (SDP, JSON); media goes over WebSockets.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout is the time from the end of the headers to the end of the answer;
	// defaults to 30 s (a WHEP answer waits for ICE gathering).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request; defaults to 60 s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps the request line and headers; defaults to 32 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxConns caps open connections, WebSockets included (connlimit.go): one past
	// it is closed at accept. Defaults to 4096; keep it under the process's open-file
	// limit (ulimit -n), which RTSP and WebRTC sockets share. Negative: no cap.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerAddr caps open connections from one client (an IPv4 address or an
	// IPv6 /64); defaults to 256, above /ws's and /ingest's own per-address caps (16
	// each). Behind a reverse proxy every client has the proxy's address: raise it.
	// Negative: no cap.
	MaxConnsPerAddr int `yaml:"max_conns_per_addr"`
}

// Defaults of HTTPConfig's connection caps.
const (
	DefaultHTTPMaxConns        = 4096
	DefaultHTTPMaxConnsPerAddr = 256
)

func (c *HTTPConfig) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 5*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultHTTPMaxConns
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultHTTPMaxConnsPerAddr
	}
}

// newHTTPServer is the server every HTTP route is served by.
func newHTTPServer(h http.Handler, c HTTPConfig) *http.Server {
	c.fill()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
	}
}
