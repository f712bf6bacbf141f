// Package rtspout serves sessions over RTSP at rtsp://HOST:PORT/{session} with
// bluenviron/gortsplib: DESCRIBE/SETUP/PLAY over UDP or TCP-interleaved, many readers
// per session, all from the session's single encode (the RTP packets the WebRTC
// output makes). Sender Reports carry the same pipeline-clock NTP mapping as WebRTC,
// because every packet is written with the NTP time of its running time.
//
// gortsplib was chosen over gst-rtsp-server: the fan-out stays in Go next to the
// WebRTC one, with no second encode or cgo binding to maintain.
package rtspout

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/avhost/avhost/internal/netopt"
	"github.com/avhost/avhost/internal/rtcout"
)

// Config configures the RTSP server. Zero fields take the defaults named.
type Config struct {
	Address string // RTSP (TCP) address; defaults to ":8554"
	UDPRTP  string // UDP RTP address; defaults to ":8000" ("-" disables UDP)
	UDPRTCP string // UDP RTCP address; defaults to ":8001"
	// User and Pass, if set, are required from readers (Basic or Digest).
	User, Pass string
	Net        netopt.Options `yaml:"-"`
	Log        *slog.Logger   `yaml:"-"`
}

// Server is the host's RTSP server.
type Server struct {
	cfg   Config
	srv   *gortsplib.Server
	nonce string

	mu      sync.Mutex
	streams map[string]*stream
	playing map[*gortsplib.ServerSession]*stream
}

type stream struct {
	st      *gortsplib.ServerStream
	out     *rtcout.Output
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
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, streams: map[string]*stream{}, playing: map[*gortsplib.ServerSession]*stream{}}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: cfg.Address,
		Listen: func(network, address string) (net.Listener, error) {
			return netopt.Listen(context.Background(), network, address, cfg.Net)
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
	n, err := auth.GenerateNonce()
	if err != nil {
		return err
	}
	s.nonce = n
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtspout: %w", err)
	}
	return nil
}

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

// Attach serves session id from out's encode at /{id}.
func (s *Server) Attach(id string, out *rtcout.Output) {
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	st := &stream{out: out, h264: h264,
		video: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264}},
		audio: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}}}
	st.st = gortsplib.NewServerStream(s.srv, &description.Session{Medias: []*description.Media{st.video, st.audio}})
	st.cancel = out.Subscribe(func(m rtcout.Media) { s.write(st, m) })
	s.mu.Lock()
	s.streams[id] = st
	s.mu.Unlock()
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

func (s *Server) write(st *stream, m rtcout.Media) {
	medi := st.audio
	if m.Video {
		medi = st.video
		if m.Key && st.h264.SPS == nil {
			if sps, pps := paramSets(m.AU); sps != nil && pps != nil {
				st.h264.SafeSetParams(sps, pps) // sprop-parameter-sets for DESCRIBE
			}
		}
	}
	for _, p := range m.Packets {
		cp := &rtp.Packet{Header: p.Header, Payload: p.Payload} // gortsplib sets its own SSRC and PT
		cp.Header.PayloadType = medi.Formats[0].PayloadType()
		st.st.WritePacketRTPWithNTP(medi, cp, m.NTP)
	}
}

func (s *Server) find(path string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[strings.Trim(path, "/")]
}

func (s *Server) authorized(req *base.Request) *base.Response {
	if s.cfg.User == "" {
		return nil
	}
	if err := auth.Validate(req, s.cfg.User, s.cfg.Pass, nil, "avhost", s.nonce); err != nil {
		return &base.Response{StatusCode: base.StatusUnauthorized,
			Header: base.Header{"WWW-Authenticate": auth.GenerateWWWAuthenticate(nil, "avhost", s.nonce)}}
	}
	return nil
}

// OnDescribe answers DESCRIBE for /{session}.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return s.stream(ctx.Request, ctx.Path)
}

// OnSetup answers SETUP.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return s.stream(ctx.Request, ctx.Path)
}

// stream is the answer to DESCRIBE and SETUP: the session's stream, if the request
// may have it.
func (s *Server) stream(req *base.Request, path string) (*base.Response, *gortsplib.ServerStream, error) {
	if r := s.authorized(req); r != nil {
		return r, nil, nil
	}
	st := s.find(path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st.st, nil
}

// OnPlay starts a reader with a key frame, so it has a picture at once.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if st := s.find(ctx.Path); st != nil {
		s.mu.Lock()
		if s.playing[ctx.Session] == nil {
			s.playing[ctx.Session] = st
			st.readers++
		}
		s.mu.Unlock()
		st.out.RequestKeyFrame()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose counts readers down.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.playing[ctx.Session]; st != nil {
		st.readers--
		delete(s.playing, ctx.Session)
	}
}
