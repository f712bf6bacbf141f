package rtcout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// PublishConfig says where to publish a session by WHIP (RFC 9725).
type PublishConfig struct {
	URL   string // the WHIP endpoint
	Token string // bearer token, if the endpoint wants one
	// MinBackoff and MaxBackoff bound the exponential retry (with jitter) after a
	// failed POST or a connection that failed; defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// Publisher keeps one session published to a WHIP endpoint: it reconnects with
// backoff whenever the POST fails or the connection fails, while local viewers keep
// being served from the same encode.
type Publisher struct {
	o        *Output
	cfg      PublishConfig
	attempts atomic.Int64
	up       atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	lastErr  error
}

// Publish starts publishing o to cfg.URL until Stop.
func (o *Output) Publish(cfg PublishConfig) *Publisher {
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{o: o, cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go p.run(ctx)
	return p
}

// Connected reports whether the publication is up; Attempts counts POSTs made.
func (p *Publisher) Connected() bool { return p.up.Load() }

// Attempts is the number of WHIP POSTs made so far.
func (p *Publisher) Attempts() int64 { return p.attempts.Load() }

// Err is the last failure, if any.
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Stop ends the publication (DELETE on the resource) and waits for it.
func (p *Publisher) Stop() {
	p.cancel()
	<-p.done
}

func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	backoff := p.cfg.MinBackoff
	for ctx.Err() == nil {
		p.attempts.Add(1)
		err := p.once(ctx)
		p.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		if err == nil { // it was up, then failed: start again from the short backoff
			backoff = p.cfg.MinBackoff
			err = errors.New("connection failed")
		}
		wait := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		p.o.cfg.Log.Warn("WHIP publish down, retrying", "url", p.cfg.URL, "err", err, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// once publishes until the connection fails or ctx ends; the error says why it never
// came up (nil when it was up).
func (p *Publisher) once(ctx context.Context) error {
	pc, err := p.o.api.NewPeerConnection(webrtc.Configuration{ICEServers: p.o.cfg.ICEServers})
	if err != nil {
		return err
	}
	v := &viewer{id: "whip", o: p.o, pc: pc, done: make(chan struct{}), joined: time.Now()}
	defer v.close()
	for _, t := range []*webrtc.TrackLocalStaticRTP{p.o.video.track, p.o.audio.track} {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		if t == p.o.video.track {
			v.video = tr.Sender()
		} else {
			v.audio = tr.Sender()
		}
	}
	state := make(chan webrtc.PeerConnectionState, 4)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		select {
		case state <- s:
		default:
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	answer, location, err := p.post(ctx, pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	defer p.delete(location)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("WHIP answer: %v", err)
	}
	v.wg.Add(3)
	go v.readRTCP(v.video)
	go v.readRTCP(v.audio)
	go v.senderReports()
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-state:
			switch s {
			case webrtc.PeerConnectionStateConnected:
				p.up.Store(true)
				p.o.RequestKeyFrame()
			case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
				if !p.up.Load() {
					return errors.New("connection failed before it was up")
				}
				return nil
			}
		}
	}
}

func (p *Publisher) post(ctx context.Context, sdp string) (answer, location string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", p.cfg.URL, bytes.NewReader([]byte(sdp)))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("WHIP POST %s: %s: %s", p.cfg.URL, resp.Status, bytes.TrimSpace(body))
	}
	loc := resp.Header.Get("Location")
	if loc != "" {
		if u, err := url.Parse(p.cfg.URL); err == nil {
			if l, err := u.Parse(loc); err == nil {
				loc = l.String()
			}
		}
	}
	return string(body), loc, nil
}

// delete ends the WHIP resource (RFC 9725 §4.2), best effort.
func (p *Publisher) delete(location string) {
	if location == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "DELETE", location, nil)
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}
