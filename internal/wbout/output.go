// Package wbout is the webrtcbin backend: for each viewer, a branch with its own
// webrtcbin is added to the session's pipeline behind the tees that carry the single
// encode (pipelines/webrtcbin.pipeline). It implements the same contract as the Pion
// backend (viewers.Backend; internal/rtcout), selected per session.
package wbout

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/viewers"
	"github.com/avhost/avhost/pipelines"
)

var defaultBranch = pipelines.WebrtcbinBranch()

// DefaultBranch is the per-viewer branch, pipelines/webrtcbin.pipeline.
func DefaultBranch() string { return defaultBranch }

// Config configures a session's webrtcbin output.
type Config struct {
	// Branch is the per-viewer description; defaults to DefaultBranch().
	Branch string
	// MaxViewers caps the session's viewers, handshakes included; defaults to 20. Each
	// webrtcbin viewer is a full RTP/DTLS/ICE stack in the pipeline (≈8 threads).
	MaxViewers int
	// ConnectTimeout frees a viewer whose connection is not up this long after its
	// answer; defaults to viewers.DefaultConnectTimeout (10 s).
	ConnectTimeout time.Duration
	// Host, if set, is the host's viewer caps, shared with its other outputs.
	Host *viewers.Slots
	// ICEServers, if set, gives the STUN and TURN servers for one viewer's webrtcbin,
	// called once per viewer (a TURN credential is minted for each, as for Pion
	// viewers); none by default: host candidates only.
	ICEServers func() []viewers.ICEServer
	// Log, if set, gets a warning for a TURN server webrtcbin refuses (its host, never
	// its credential); defaults to slog.Default().
	Log *slog.Logger
}

// DefaultMaxViewers is Config.MaxViewers' default.
const DefaultMaxViewers = 20

// Output serves one session's viewers through webrtcbin.
//
// Lock order: Output.mu, then viewers.Slots. mu is never held while GStreamer works
// (state changes, linking); watch holds it only for property reads (see there).
type Output struct {
	p      *gst.Pipeline
	vtee   *gst.Element
	atee   *gst.Element
	branch string
	cfg    Config

	mu      sync.Mutex
	viewers map[string]*viewer // handshakes in flight included: they hold a slot
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type viewer struct {
	owner string        // the credential that created it (WHEP DELETE needs it)
	slot  *viewers.Slot // its hold on the host's caps
	// pending: the branch is being built by AddViewer, which owns it until it clears
	// this (under Output.mu); nothing else touches the fields below meanwhile.
	pending    bool
	answered   time.Time
	bin        *gst.Bin
	wb         *gst.Element
	vpad, apad *gst.Pad // tee request pads
	rx         rxWatch
}

var _ viewers.Backend = (*Output)(nil)

// New attaches to pipeline p, which must have tees named vtee and atee.
func New(p *gst.Pipeline, cfg Config) (*Output, error) {
	if cfg.Branch == "" {
		cfg.Branch = defaultBranch
	}
	if cfg.MaxViewers == 0 {
		cfg.MaxViewers = DefaultMaxViewers
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = viewers.DefaultConnectTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	vt, err := p.GetElementByName(pipelines.VideoTee)
	if err != nil {
		return nil, fmt.Errorf("wbout: pipeline has no tee named vtee")
	}
	at, err := p.GetElementByName(pipelines.AudioTee)
	if err != nil {
		return nil, fmt.Errorf("wbout: pipeline has no tee named atee")
	}
	o := &Output{p: p, vtee: vt, atee: at, branch: pipelines.Description(cfg.Branch), cfg: cfg, viewers: map[string]*viewer{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go o.watch()
	return o, nil
}

// AddViewer adds a branch, answers the offer and returns the complete answer. c.Owner
// is the credential the viewer was created with; Owner returns it. The session's cap
// and the host's (in all, anonymous, unconnected per address) are checked, and the
// slot taken, under one lock before any work.
func (o *Output) AddViewer(ctx context.Context, offer string, c viewers.Client) (string, string, error) {
	if err := checkOffer(offer); err != nil {
		return "", "", err
	}
	id := auth.RandomID(16)
	v := &viewer{owner: c.Owner, pending: true}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return "", "", viewers.ErrClosed
	}
	if len(o.viewers) >= o.cfg.MaxViewers {
		o.mu.Unlock()
		return "", "", viewers.ErrTooManyViewers
	}
	slot, err := o.cfg.Host.Take(c)
	if err != nil {
		o.mu.Unlock()
		return "", "", err
	}
	v.slot = slot
	o.viewers[id] = v
	o.mu.Unlock()

	ans, err := o.build(ctx, v, offer)
	o.mu.Lock()
	kept := err == nil && o.viewers[id] == v // Close may have taken it out meanwhile
	if kept {
		v.pending, v.answered = false, time.Now()
	} else if o.viewers[id] == v {
		delete(o.viewers, id)
		v.slot.Release()
	}
	o.mu.Unlock()
	if !kept {
		if v.bin != nil {
			o.drop(v)
		}
		if err == nil {
			err = viewers.ErrClosed
		}
		return "", "", err
	}
	return id, ans, nil
}

// build adds v's branch to the pipeline and answers offer with it.
func (o *Output) build(ctx context.Context, v *viewer, offer string) (string, error) {
	bin, err := gst.NewBinFromString(o.branch, false)
	if err != nil {
		return "", fmt.Errorf("wbout: branch: %w", err)
	}
	get := func(name string) *gst.Element { e, _ := bin.GetElementByName(name); return e }
	vq, aq, wb := get(pipelines.BranchVideoQueue), get(pipelines.BranchAudioQueue), get(pipelines.BranchWebRTC)
	if vq == nil || aq == nil || wb == nil {
		return "", fmt.Errorf("wbout: branch needs queues vq, aq and webrtcbin wb")
	}
	bin.AddPad(gst.NewGhostPad("vsink", vq.GetStaticPad("sink")).Pad)
	bin.AddPad(gst.NewGhostPad("asink", aq.GetStaticPad("sink")).Pad)
	if err := o.p.Add(bin.Element); err != nil {
		return "", err
	}
	v.bin, v.wb = bin, wb
	o.setICEServers(wb)
	// webrtcbin 1.22 needs caps on its sink pads to match the offer's m-lines to its
	// transceivers, and asserts on buffers that arrive before negotiation gives each
	// transceiver its stream: let the caps through, hold the buffers until answered.
	relV, relA := holdBuffers(vq.GetStaticPad("sink")), holdBuffers(aq.GetStaticPad("sink"))
	bin.SyncStateWithParent()
	v.vpad, v.apad = o.vtee.GetRequestPad("src_%u"), o.atee.GetRequestPad("src_%u")
	v.vpad.Link(bin.GetStaticPad("vsink"))
	v.apad.Link(bin.GetStaticPad("asink"))
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	preferPeerCaps(wb)
	waitCaps(wb, 200*time.Millisecond)
	ans, err := answer(wb, offer, timeout)
	if err == nil {
		// The payloaders send the payload types the answer agreed on.
		for name, codec := range map[string]string{"vpay": "H264/90000", "apay": "OPUS/48000"} {
			if pay := get(name); pay != nil {
				if pt, ok := payloadType(ans, codec); ok {
					pay.SetArg("pt", strconv.Itoa(pt))
				}
			}
		}
	}
	relV()
	relA()
	if err != nil {
		return "", err
	}
	v.rx = watchRx(wb)
	return ans, nil
}

// setICEServers gives wb the viewer's STUN and TURN servers, before it gathers (at
// set-local-description), so that its answer carries reflexive and relay candidates.
func (o *Output) setICEServers(wb *gst.Element) {
	if o.cfg.ICEServers == nil {
		return
	}
	stun, turn := iceURIs(o.cfg.ICEServers())
	if stun != "" {
		if err := wb.SetProperty("stun-server", stun); err != nil {
			o.cfg.Log.Warn("webrtcbin: stun-server not set", "err", err)
		}
	}
	for _, uri := range turn {
		if !addTURNServer(wb, uri) {
			o.cfg.Log.Warn("webrtcbin refused a TURN server", "server", uri[strings.LastIndex(uri, "@")+1:])
		}
	}
}

// payloadType finds the payload type of codec ("H264/90000") in an SDP.
func payloadType(sdp, codec string) (int, bool) {
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "a=rtpmap:"); ok {
			pt, enc, _ := strings.Cut(rest, " ")
			if strings.EqualFold(strings.SplitN(enc, "/", 3)[0]+"/"+strings.SplitN(enc+"/", "/", 3)[1], codec) {
				n, err := strconv.Atoi(pt)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// Owner returns the credential viewer id was created with.
func (o *Output) Owner(id string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.viewers[id]
	if v == nil {
		return "", false
	}
	return v.owner, true
}

// AddICECandidate adds a trickled candidate for viewer id.
func (o *Output) AddICECandidate(id string, c viewers.Candidate) error {
	o.mu.Lock()
	v := o.viewers[id]
	pending := v != nil && v.pending
	o.mu.Unlock()
	if v == nil || pending {
		return viewers.ErrNoViewer
	}
	var m uint
	if c.SDPMLineIndex != nil {
		m = uint(*c.SDPMLineIndex)
	}
	addCandidate(v.wb, m, c.Candidate)
	return nil
}

// RemoveViewer takes viewer id's branch out of the pipeline. A viewer still being
// answered is only taken out of the map: AddViewer sees that and drops the branch.
func (o *Output) RemoveViewer(id string) error {
	o.mu.Lock()
	v := o.viewers[id]
	if v != nil {
		delete(o.viewers, id)
		v.slot.Release()
	}
	pending := v != nil && v.pending
	o.mu.Unlock()
	if v == nil {
		return viewers.ErrNoViewer
	}
	if !pending {
		o.drop(v)
	}
	return nil
}

// drop unlinks a branch from the tees and frees it; the tees allow unlinked pads, so
// the other branches do not notice.
func (o *Output) drop(v *viewer) {
	if v.vpad != nil {
		v.vpad.Unlink(v.bin.GetStaticPad("vsink"))
		v.apad.Unlink(v.bin.GetStaticPad("asink"))
		o.vtee.ReleaseRequestPad(v.vpad)
		o.atee.ReleaseRequestPad(v.apad)
	}
	v.bin.SetState(gst.StateNull)
	o.p.Remove(v.bin.Element)
	v.rx.free()
}

// Viewers is the number of viewers, handshakes in flight included.
func (o *Output) Viewers() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.viewers)
}

// watch frees viewers whose connection failed or closed, never came up within
// ConnectTimeout, or went silent.
func (o *Output) watch() {
	defer close(o.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
		}
		// o.mu stays held across the reads below: RemoveViewer takes a viewer out under
		// it and only then frees its branch and rx's C stamp, so an unlocked read could
		// touch freed memory. The reads are short property reads, never a wait.
		o.mu.Lock()
		var gone []string
		for id, v := range o.viewers {
			if v.pending {
				continue
			}
			up := connected(v.wb)
			if up {
				v.slot.Connected() // no longer pending: the address may offer again
			}
			late := !up && time.Since(v.answered) > o.cfg.ConnectTimeout
			if late || failed(v.wb) || v.rx.silent() {
				gone = append(gone, id)
			}
		}
		o.mu.Unlock()
		for _, id := range gone {
			o.RemoveViewer(id)
		}
	}
}

// Close removes every viewer; idempotent.
func (o *Output) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	ids := make([]string, 0, len(o.viewers))
	for id := range o.viewers {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	close(o.stop)
	<-o.done
	for _, id := range ids {
		o.RemoveViewer(id)
	}
}
