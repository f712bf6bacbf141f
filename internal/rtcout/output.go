package rtcout

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/stream"
	"github.com/avhost/avhost/internal/viewers"
)

// Config configures one session's WebRTC output.
type Config struct {
	Options `yaml:",inline"`
	// MaxViewers caps viewers of one session; defaults to 100.
	MaxViewers int          `yaml:"max_viewers"`
	Log        *slog.Logger `yaml:"-"`
}

// Output is one session's Pion viewers (viewers.Backend), each a reader of the
// session's stream.
type Output struct {
	cfg  Config
	api  *webrtc.API // WHIP publishing's
	base *apiBase    // viewers': with transport-wide CC, an API (and estimator) each
	st   *stream.Stream

	ups, downs atomic.Uint64 // rendition switches of the session's viewers
	// What departed viewers' NACK gates counted (NetStats adds the present ones').
	nacked, refused, resent atomic.Uint64
	refusedBy               [nRefusals]atomic.Uint64 // departed viewers'
	keyframeRqs             atomic.Uint64            // departed viewers' PLIs and FIRs

	mu      sync.Mutex
	viewers map[string]*viewer
	closed  bool
	speech  SpeechControl // what viewers' data channels may do (speech.go)
}

var _ viewers.Backend = (*Output)(nil)

// New serves st's media to Pion viewers. The stream stays the caller's: Close ends
// the viewers, not the stream.
func New(st *stream.Stream, cfg Config) (*Output, error) {
	if cfg.MaxViewers == 0 {
		cfg.MaxViewers = 100
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	api, err := newAPI(cfg.Options)
	if err != nil {
		return nil, err
	}
	// Transport-wide CC and a GCC estimator only where a viewer can move between
	// renditions: a single-rendition stream has nothing to steer, and its viewers keep
	// the plain path.
	base, err := newAPIBase(cfg.Options, len(st.Renditions()) > 1)
	if err != nil {
		return nil, err
	}
	// Viewers only: WHIP publishing keeps plain NACK and plain Opus.
	if err := registerRTX(base.m); err != nil {
		return nil, err
	}
	if err := registerRED(base.m); err != nil {
		return nil, err
	}
	return &Output{cfg: cfg, api: api, base: base, st: st, viewers: map[string]*viewer{}}, nil
}

// Viewers is the number of viewers, handshakes in flight included.
func (o *Output) Viewers() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.viewers)
}

// Close disconnects every viewer; idempotent.
func (o *Output) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	vs := make([]*viewer, 0, len(o.viewers))
	for _, v := range o.viewers {
		vs = append(vs, v)
	}
	o.mu.Unlock()
	for _, v := range vs {
		v.close()
	}
}
