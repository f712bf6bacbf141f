// Package rtspout serves sessions over RTSP at rtsp://HOST:PORT/{session} with
// bluenviron/gortsplib: DESCRIBE/SETUP/PLAY over UDP or TCP-interleaved, many readers
// per session, all from the session's single encode: each served session is one
// reader of its stream (internal/stream), whose RTP packets gortsplib fans out to the
// session's RTSP readers. Sender Reports carry the same pipeline-clock NTP mapping as
// WebRTC, because every packet is written with the NTP time of its running time.
//
// Who may read what is in access.go; connection caps in limit.go.
//
// gortsplib was chosen over gst-rtsp-server: the fan-out stays in Go next to the
// WebRTC one, with no second encode or cgo binding to maintain.
package rtspout

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/avhost/avhost/internal/auth"
	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/stream"
)

// Config configures the RTSP server. Zero fields take the defaults named.
type Config struct {
	Address string `yaml:"address"`  // RTSP (TCP) address; defaults to ":8554"
	UDPRTP  string `yaml:"udp_rtp"`  // UDP RTP address; defaults to ":8000" ("-" disables UDP)
	UDPRTCP string `yaml:"udp_rtcp"` // UDP RTCP address; defaults to ":8001"
	// User and Pass, if User is set, are required (Digest) to read a public session;
	// defaults to none: public sessions are open. Private sessions take their viewer
	// token instead (access.go).
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
	// HostToken opens every session (as the Digest password, any user name); the
	// host sets it to its own token. Defaults to none.
	HostToken string `yaml:"-"`
	// MaxConns caps open RTSP connections; defaults to 1000.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerAddr caps open RTSP connections from one client address; defaults
	// to 64.
	MaxConnsPerAddr int `yaml:"max_conns_per_addr"`
	// MaxReaders caps the playing readers of one session; defaults to 100.
	MaxReaders int `yaml:"max_readers"`
	// IdleTimeout closes a connection that has not played and sends no complete
	// request for this long (from accept, or from its last answer); defaults to 10s.
	// Once it plays, it may stay silent for 2 min (limit.go).
	IdleTimeout time.Duration  `yaml:"idle_timeout"`
	Net         netopt.Options `yaml:"-"`
	Log         *slog.Logger   `yaml:"-"`
}

// source is what a stream is served from: a session's stream (streamSource), or a
// test's fake.
type source interface {
	// subscribe calls f with the source's units, on a goroutine of its own, until
	// cancel.
	subscribe(f func(*stream.Unit)) (cancel func(), err error)
	RequestKeyFrame()
	H264Params() (sps, pps []byte, known <-chan struct{})
}

// streamSource serves a stream's default rendition.
type streamSource struct{ st *stream.Stream }

// readerQueue bounds the units waiting for gortsplib: past it, RTSP drops (and the
// reader counts) rather than holding the stream's other readers up.
const readerQueue = stream.DefaultQueue

func (s streamSource) subscribe(f func(*stream.Unit)) (func(), error) {
	r, err := s.st.Subscribe("", readerQueue, f)
	if err != nil {
		return nil, err
	}
	return r.Close, nil
}

func (s streamSource) RequestKeyFrame() { s.st.RequestKeyFrame("") }

func (s streamSource) H264Params() (sps, pps []byte, known <-chan struct{}) {
	return s.st.H264Params("")
}

// paramsWait is how long a DESCRIBE waits for the encoder's first SPS/PPS.
const paramsWait = 3 * time.Second

// Server is the host's RTSP server.
type Server struct {
	cfg   Config
	srv   *gortsplib.Server
	dummy string // a password no one has (access.go)
	ln    net.Listener
	// listen binds the RTSP listener; the fuzz target swaps in an in-memory one.
	listen func(network, address string) (net.Listener, error)

	mu      sync.Mutex
	streams map[string]*served
	playing map[*gortsplib.ServerSession]reader
}

// reader is a playing session: its stream, and the connection that played it.
type reader struct {
	st   *served
	conn *limitConn
}

// served is one session served over RTSP.
type served struct {
	st      *gortsplib.ServerStream
	src     source
	access  Access
	video   *description.Media
	audio   *description.Media
	h264    *format.H264
	cancel  func()
	readers int
}

// New returns a server; Start binds it.
func New(cfg Config) *Server {
	if cfg.Address == "" {
		cfg.Address = ":8554"
	}
	if cfg.UDPRTP == "" {
		cfg.UDPRTP, cfg.UDPRTCP = ":8000", ":8001"
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 1000
	}
	if cfg.MaxConnsPerAddr == 0 {
		cfg.MaxConnsPerAddr = 64
	}
	if cfg.MaxReaders == 0 {
		cfg.MaxReaders = 100
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, dummy: auth.RandomID(16), streams: map[string]*served{}, playing: map[*gortsplib.ServerSession]reader{}}
	s.listen = func(network, address string) (net.Listener, error) {
		return netopt.Listen(context.Background(), network, address, cfg.Net)
	}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: cfg.Address,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := s.listen(network, address)
			if err != nil {
				return nil, err
			}
			s.ln = newLimitListener(l, cfg.MaxConns, cfg.MaxConnsPerAddr, cfg.IdleTimeout)
			return s.ln, nil
		},
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			return netopt.ListenPacket(context.Background(), network, address, cfg.Net)
		}}
	if cfg.UDPRTP != "-" {
		s.srv.UDPRTPAddress, s.srv.UDPRTCPAddress = cfg.UDPRTP, cfg.UDPRTCP
	}
	return s
}

// Start binds the listeners.
func (s *Server) Start() error {
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtspout: %w", err)
	}
	return nil
}

// Addr is the bound RTSP (TCP) address, after Start.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server and every stream.
func (s *Server) Close() {
	s.mu.Lock()
	for id, st := range s.streams {
		st.cancel()
		st.st.Close()
		delete(s.streams, id)
	}
	s.mu.Unlock()
	s.srv.Close()
}

// Attach serves session id from st at /{id}, to the readers acc admits; an error if
// st is closed.
func (s *Server) Attach(id string, st *stream.Stream, acc Access) error {
	return s.attach(id, streamSource{st}, acc)
}

func (s *Server) attach(id string, src source, acc Access) error {
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	st := &served{src: src, access: acc, h264: h264,
		video: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264}},
		audio: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}}
	st.st = &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{st.video, st.audio}}}
	if err := st.st.Initialize(); err != nil { // the server is not started
		return fmt.Errorf("rtspout: %w", err)
	}
	cancel, err := src.subscribe(func(u *stream.Unit) { s.write(st, u) })
	if err != nil {
		st.st.Close()
		return err
	}
	st.cancel = cancel
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
	return nil
}

// Detach stops serving session id and disconnects its readers.
func (s *Server) Detach(id string) {
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if st != nil {
		st.cancel()
		st.st.Close()
	}
}

// Readers is the number of RTSP readers of session id.
func (s *Server) Readers(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		return st.readers
	}
	return 0
}

// write hands a unit's packets to gortsplib. The packets are the stream's, shared
// with its other readers, so each is copied before its payload type is set (and
// gortsplib sets its own SSRC).
func (s *Server) write(st *served, u *stream.Unit) {
	medi := st.audio
	if u.Video {
		medi = st.video
	}
	for _, p := range u.Packets {
		cp := &rtp.Packet{Header: p.Header, Payload: p.Payload}
		cp.Header.PayloadType = medi.Formats[0].PayloadType()
		st.st.WritePacketRTPWithNTP(medi, cp, u.NTP)
	}
}

func (s *Server) find(path string) *served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[strings.Trim(path, "/")]
}

// OnConnOpen gives the connection its Digest nonce state.
func (s *Server) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	ctx.Conn.SetUserData(&connAuth{})
}

// OnResponse restarts the connection's idle limit: the client has its answer, and
// the time a DESCRIBE waits for parameter sets is not the client's to pay.
func (s *Server) OnResponse(sc *gortsplib.ServerConn, _ *base.Response) {
	if c := connOf(sc.NetConn()); c != nil {
		c.answered()
	}
}

// OnDescribe answers DESCRIBE for /{session}: the SDP, once the stream's parameter
// sets are known, so sprop-parameter-sets always carries them (RFC 6184 §8.1).
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, st := s.admit(ctx.Conn, ctx.Request, ctx.Path)
	if st == nil {
		return res, nil, nil
	}
	if !s.paramsReady(st) {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return res, st.st, nil
}

// OnSetup answers SETUP, with the same credential check as DESCRIBE.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, st := s.admit(ctx.Conn, ctx.Request, ctx.Path)
	if st == nil {
		return res, nil, nil
	}
	return res, st.st, nil
}

// admit is the credential check of DESCRIBE and SETUP: the stream at path, or the
// answer that refuses it.
func (s *Server) admit(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *served) {
	c, _ := conn.UserData().(*connAuth)
	if c == nil {
		c = &connAuth{} // never: OnConnOpen set it
	}
	st := s.find(path)
	now := time.Now()
	switch s.check(c, req, st, now) {
	case allowed:
		return &base.Response{StatusCode: base.StatusOK}, st
	case hostOnly:
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	case stale:
		return challenge(c, true, now), nil
	}
	return challenge(c, false, now), nil
}

// paramsReady puts the stream's current SPS and PPS in its SDP, waiting up to
// paramsWait (with a key frame asked for) for the first ones.
func (s *Server) paramsReady(st *served) bool {
	sps, pps, known := st.src.H264Params()
	if sps == nil || pps == nil {
		st.src.RequestKeyFrame()
		select {
		case <-known:
		case <-time.After(paramsWait):
			return false
		}
		sps, pps, _ = st.src.H264Params()
	}
	if old, oldP := st.h264.SafeParams(); !bytes.Equal(old, sps) || !bytes.Equal(oldP, pps) {
		st.h264.SafeSetParams(sps, pps)
	}
	return true
}

// OnPlay starts a reader with a key frame, so it has a picture at once. Readers of a
// stream are capped (Config.MaxReaders), checked and counted under one lock. The
// connection takes the playing idle limit, which a UDP reader's keepalives meet.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	st := s.find(ctx.Session.SetuppedPath())
	if st == nil || st.st != ctx.Session.SetuppedStream() {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	c := connOf(ctx.Conn.NetConn())
	s.mu.Lock()
	if _, ok := s.playing[ctx.Session]; !ok {
		if st.readers >= s.cfg.MaxReaders {
			s.mu.Unlock()
			return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
		}
		s.playing[ctx.Session] = reader{st: st, conn: c}
		st.readers++
	}
	s.mu.Unlock()
	if c != nil {
		c.played(true)
	}
	st.src.RequestKeyFrame()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose counts readers down, and gives the connection that played (if it is
// still open) the handshake idle limit again.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	r, ok := s.playing[ctx.Session]
	if ok {
		r.st.readers--
		delete(s.playing, ctx.Session)
	}
	s.mu.Unlock()
	if ok && r.conn != nil {
		r.conn.played(false)
	}
}
