package whip

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Retry bounds a publication's reconnects.
type Retry struct {
	// MinBackoff is the wait after a first failure, doubling (with jitter, never past
	// MaxBackoff) on each further one; defaults to 500 ms and 30 s.
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxAttempts is how many attempts in a row may fail before the publisher gives
	// up (a publication that came up starts the count again); defaults to 10.
	MaxAttempts int `yaml:"max_attempts"`
}

// Config says where to publish a session by WHIP (RFC 9725).
type Config struct {
	// URL is the WHIP endpoint, http or https (see CheckTarget).
	URL string `yaml:"url"`
	// Token is the bearer token, if the endpoint wants one. It goes to the endpoint's
	// origin only: the POST, and a DELETE of a resource on that same origin.
	Token string `yaml:"token"`
	Retry `yaml:",inline"`
	// Allow lists the hosts URL may name; empty allows any host at a public address
	// (server: publish_allow). A listed host may be at any address (dial.go).
	Allow []string `yaml:"-"`
	// Silence is how long an up connection may hear nothing from the endpoint
	// (PeerSilent) before the publisher counts it lost and publishes anew; defaults to
	// DefaultSilence. A killed SFU never says goodbye: waiting for ICE to fail instead
	// would keep the stream away for as long as the failure timeout.
	Silence time.Duration `yaml:"-"`
}

// DefaultSilence is Config.Silence's default: with the peer's consent checks every
// 500 ms and PeerSilent after 1 s without an answer (rtcout), a dead endpoint is
// left ≈2–2.5 s after it went quiet, while a second's loss on a live path is ridden out.
const DefaultSilence = time.Second

// Publication states (Status.State).
const (
	Connecting = "connecting"
	Connected  = "connected"
	Retrying   = "retrying"
	Failed     = "failed" // gave up after MaxAttempts failures in a row
)

// Status is a publication's state, for the host's status endpoint. Nothing in
// it comes from the endpoint's answers, and the URL appears as its origin only: paths
// and queries carry stream keys.
type Status struct {
	Endpoint    string `json:"endpoint"` // scheme://host:port
	State       string `json:"state"`
	Connected   bool   `json:"connected"`
	Attempts    int64  `json:"attempts"` // WHIP POSTs made
	Failures    int    `json:"failures"` // attempts that failed in a row
	MaxAttempts int    `json:"max_attempts"`
	LastError   string `json:"last_error,omitempty"` // a fixed reason and at most a status code
}

// Publisher keeps one session published to a WHIP endpoint: it reconnects with capped
// backoff whenever the POST fails or the connection fails, up to MaxAttempts failures
// in a row, while local viewers keep being served from the same encode.
type Publisher struct {
	newPeer  func() (Peer, error)
	log      *slog.Logger
	cfg      Config
	endpoint *url.URL
	client   *http.Client // publicWHIPClient, or listedWHIPClient for a listed host
	cancel   context.CancelFunc
	done     chan struct{}

	mu sync.Mutex
	st Status
}

var (
	errLost   = errors.New("connection lost")
	errSilent = errors.New("connection silent: the endpoint stopped answering")
)

// Publish checks cfg and starts publishing to cfg.URL, with a peer from newPeer for
// each attempt, until Stop. log defaults to slog.Default().
func Publish(cfg Config, newPeer func() (Peer, error), log *slog.Logger) (*Publisher, error) {
	u, err := CheckTarget(cfg.URL, cfg.Token, cfg.Allow)
	if err != nil {
		return nil, err
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{newPeer: newPeer, log: log, cfg: cfg, endpoint: u, client: publishClient(u, cfg.Allow), cancel: cancel, done: make(chan struct{}),
		st: Status{Endpoint: origin(u), State: Connecting, MaxAttempts: cfg.MaxAttempts}}
	go p.run(ctx)
	return p, nil
}

// Status returns the publication's state.
func (p *Publisher) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Connected reports whether the publication is up.
func (p *Publisher) Connected() bool { return p.Status().Connected }

// Done is closed once the publisher has stopped or given up.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Stop ends the publication (DELETE on the resource) and waits for it.
func (p *Publisher) Stop() {
	p.cancel()
	<-p.done
}

func (p *Publisher) update(f func(*Status)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	log := p.log.With("endpoint", origin(p.endpoint))
	backoff := p.cfg.MinBackoff
	for failures := 0; ; {
		p.update(func(s *Status) { s.Attempts++; s.State = Connecting })
		up, err := p.once(ctx)
		p.update(func(s *Status) { s.Connected = false })
		if ctx.Err() != nil {
			return
		}
		if up { // it worked, then failed: a fresh start, from the short backoff
			failures, backoff = 0, p.cfg.MinBackoff
			if err == nil {
				err = errLost
			}
		}
		failures++
		gaveUp := failures >= p.cfg.MaxAttempts
		p.update(func(s *Status) {
			s.Failures, s.LastError, s.State = failures, err.Error(), Retrying
			if gaveUp {
				s.State = Failed
			}
		})
		if gaveUp {
			log.Error("WHIP publish: giving up", "failures", failures, "reason", err)
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter, never past MaxBackoff
		log.Warn("WHIP publish down, retrying", "failures", failures, "reason", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// once publishes until the connection is lost or ctx ends. up says whether it was
// ever connected; err says why it never was, or why it was lost when that was not
// simply a failed connection.
func (p *Publisher) once(ctx context.Context) (up bool, err error) {
	peer, err := p.newPeer()
	if err != nil {
		return false, errors.New("could not make a peer connection")
	}
	defer peer.Close()
	gctx, cancel := context.WithTimeout(ctx, whipTimeout)
	offer, err := peer.Offer(gctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return false, errors.New("ICE gathering timed out")
		}
		return false, errors.New("could not make an offer")
	}
	answer, resource, err := p.post(ctx, offer)
	if err != nil {
		return false, err
	}
	if resource != nil {
		defer p.delete(resource)
	}
	if err := peer.Answer(answer); err != nil {
		return false, errors.New("WHIP answer is not a usable SDP answer") // the stack's error may quote the SDP
	}
	return p.watch(ctx, peer)
}

// watch follows an answered peer until the connection is down, or silent for longer
// than cfg.Silence (RFC 7675 consent lost: the endpoint is gone, or the path to it),
// or ctx ends.
func (p *Publisher) watch(ctx context.Context, peer Peer) (up bool, err error) {
	var silence *time.Timer
	var lost <-chan time.Time
	defer func() {
		if silence != nil {
			silence.Stop()
		}
	}()
	for {
		state, changed := peer.State()
		switch state {
		case PeerUp:
			if !up {
				up = true
				p.update(func(s *Status) { s.Connected, s.State, s.Failures, s.LastError = true, Connected, 0, "" })
			}
			if silence != nil {
				silence.Stop()
				silence, lost = nil, nil
				p.log.Info("WHIP publish: the endpoint answers again", "endpoint", origin(p.endpoint))
			}
		case PeerSilent:
			if silence == nil {
				silence = time.NewTimer(p.cfg.Silence)
				lost = silence.C
			}
		case PeerDown:
			if !up {
				return false, errors.New("WebRTC connection failed before it was up")
			}
			return true, nil
		}
		select {
		case <-ctx.Done():
			return up, nil
		case <-changed:
		case <-lost:
			if !up {
				return false, errors.New("WebRTC connection silent before it was up")
			}
			return true, errSilent
		}
	}
}

// post offers sdp (RFC 9725 §4.2) and returns the answer and the resource URL (nil if
// the endpoint gave none). Only a 201 is an answer; a Location on another origin is
// refused, so the bearer never follows it.
func (p *Publisher) post(ctx context.Context, sdp string) (answer string, resource *url.URL, err error) {
	req, err := http.NewRequestWithContext(ctx, "POST", p.endpoint.String(), bytes.NewReader([]byte(sdp)))
	if err != nil {
		return "", nil, errors.New("WHIP POST: could not make the request")
	}
	req.Header.Set("Content-Type", "application/sdp")
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", nil, transportReason("WHIP POST", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", nil, statusReason("WHIP POST", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		l, err := p.endpoint.Parse(loc)
		if err != nil {
			return "", nil, errors.New("WHIP answer: Location is not a URL")
		}
		if !sameOrigin(l, p.endpoint) {
			return "", nil, errors.New("WHIP answer: Location on another origin refused")
		}
		resource = l
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return "", nil, transportReason("WHIP answer", err)
	}
	if len(body) > maxAnswerBytes {
		return "", nil, errors.New("WHIP answer larger than 64 KiB")
	}
	return string(body), resource, nil
}

// delete ends the WHIP resource (RFC 9725 §4.2), best effort; post checked that it is
// on the endpoint's origin.
func (p *Publisher) delete(resource *url.URL) {
	ctx, cancel := context.WithTimeout(context.Background(), whipDeleteWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "DELETE", resource.String(), nil)
	if err != nil {
		return
	}
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	if resp, err := p.client.Do(req); err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		resp.Body.Close()
	}
}
