package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FloodConfig is a hostile run against one avhost (issue 10, row 13): at once, many
// /ws connections that never speak, WHEP offers that never finish ICE, slowloris
// connections and an ingest client sending malformed messages flat out. Every client
// comes back when the server refuses or cuts it, so the pressure lasts the whole run.
type FloodConfig struct {
	// Base is avhost's HTTP address (http://127.0.0.1:PORT). Only loopback is allowed:
	// a flood is a test of one's own host.
	Base string
	// Token is the host token the malformed-ingest client authenticates with.
	Token string
	// Session is the session the WHEP offers target; defaults to "demo".
	Session string
	// WS /ws connections (default 2000), Offers WHEP offers (200), Slowloris
	// connections (100), Malformed ingest clients (1). A negative count turns one off.
	WS, Offers, Slowloris, Malformed int
	// Duration of the flood; defaults to 60 s.
	Duration time.Duration
	// Sources are local loopback addresses the /ws, WHEP and slowloris clients spread
	// over, as an attacker with many addresses would; default: the kernel's choice.
	Sources []string
}

// FloodResult counts what the server did with the flood.
type FloodResult struct {
	WSPeak      int64            // /ws connections open at once, at most
	WSOpened    int64            // upgrades that succeeded
	WSRefused   map[string]int64 // refused upgrades and dial failures, by status or errno
	WSCut       int64            // open connections the server closed
	OfferStatus map[int]int64    // WHEP POST answers by status (0: no answer)
	OfferChecks int64            // STUN packets the server sent to the offers' candidate
	SlowPeak    int64            // slowloris connections open at once, at most
	SlowCut     int64            // slowloris connections the server ended
	BadSent     int64            // malformed ingest messages sent
	BadReplies  int64            // error replies to them
	BadRedials  int64            // ingest connections the server closed (and redialled)
}

func (r FloodResult) String() string {
	return fmt.Sprintf("/ws: peak %d open, %d opened, %d cut, refused %v; WHEP offers by status %v, %d STUN checks to nowhere; "+
		"slowloris: peak %d open, %d cut; malformed ingest: %d sent, %d error replies, %d redials",
		r.WSPeak, r.WSOpened, r.WSCut, sortedCounts(r.WSRefused), r.OfferStatus, r.OfferChecks,
		r.SlowPeak, r.SlowCut, r.BadSent, r.BadReplies, r.BadRedials)
}

func sortedCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// counter is a tally by key, safe for concurrent use.
type counter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *counter) add(k string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[k]++
	c.mu.Unlock()
}

// gauge tracks a level and its peak.
type gauge struct{ now, peak atomic.Int64 }

func (g *gauge) inc() {
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
}

func (g *gauge) dec() { g.now.Add(-1) }

// ErrNotLoopback: Flood only targets loopback addresses.
var ErrNotLoopback = errors.New("loadtest: a flood targets loopback addresses only")

// Prepared is a flood ready to start: the offers are made, the targets checked.
type Prepared struct {
	cfg    FloodConfig
	host   string // host:port of Base
	offers []string
	sink   *net.UDPConn // where the offers' only ICE candidate points
}

// PrepareFlood checks cfg and makes the WHEP offers (real Pion offers, each with one
// ICE candidate: a loopback UDP port that reads and never answers), so that Start
// floods at full strength from its first second.
func PrepareFlood(cfg FloodConfig) (*Prepared, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.WS, 2000)
	def(&cfg.Offers, 200)
	def(&cfg.Slowloris, 100)
	def(&cfg.Malformed, 1)
	if cfg.Duration == 0 {
		cfg.Duration = 60 * time.Second
	}
	if cfg.Session == "" {
		cfg.Session = "demo"
	}
	u, err := url.Parse(cfg.Base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("loadtest: base URL %q: %v", cfg.Base, err)
	}
	if !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, u.Host)
	}
	for _, s := range cfg.Sources {
		if !loopback(s) {
			return nil, fmt.Errorf("%w: source %s", ErrNotLoopback, s)
		}
	}
	p := &Prepared{cfg: cfg, host: u.Host}
	if cfg.Offers > 0 {
		if p.sink, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return nil, err
		}
		if p.offers, err = DeadOffers(cfg.Offers, p.sink.LocalAddr().(*net.UDPAddr).Port); err != nil {
			p.sink.Close()
			return nil, err
		}
	}
	return p, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start floods until the configured duration has passed (or ctx ends) and returns
// once every client has stopped.
func (p *Prepared) Start(ctx context.Context) FloodResult {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Duration)
	defer cancel()
	f := &flood{Prepared: p}
	var wg sync.WaitGroup
	run := func(n int, fn func(ctx context.Context, i int)) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(ctx, i)
			}()
		}
	}
	if p.sink != nil {
		go f.countChecks()
	}
	run(p.cfg.Offers, f.offerer)
	run(p.cfg.Slowloris, f.slowloris)
	run(p.cfg.Malformed, f.malformed)
	run(p.cfg.WS, f.wsClient)
	wg.Wait()
	if p.sink != nil {
		p.sink.Close()
	}
	r := FloodResult{WSPeak: f.ws.peak.Load(), WSOpened: f.wsOpened.Load(), WSCut: f.wsCut.Load(),
		WSRefused: f.wsRefused.m, OfferStatus: map[int]int64{}, OfferChecks: f.checks.Load(),
		SlowPeak: f.slow.peak.Load(), SlowCut: f.slowCut.Load(),
		BadSent: f.badSent.Load(), BadReplies: f.badReplies.Load(), BadRedials: f.badRedials.Load()}
	f.offerMu.Lock()
	for k, v := range f.offerStatus {
		r.OfferStatus[k] = v
	}
	f.offerMu.Unlock()
	return r
}

type flood struct {
	*Prepared
	ws, slow            gauge
	wsOpened, wsCut     atomic.Int64
	wsRefused           counter
	checks              atomic.Int64
	offerMu             sync.Mutex
	offerStatus         map[int]int64
	slowCut             atomic.Int64
	badSent, badReplies atomic.Int64
	badRedials          atomic.Int64
}

func (f *flood) source(i int) *net.TCPAddr {
	if len(f.cfg.Sources) == 0 {
		return nil
	}
	return &net.TCPAddr{IP: net.ParseIP(f.cfg.Sources[i%len(f.cfg.Sources)])}
}

// pause waits d with ±50 % jitter (so refused clients do not come back in lockstep);
// false when ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	d = d/2 + rand.N(d)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
