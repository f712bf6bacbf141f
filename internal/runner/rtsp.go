package runner

import (
	"fmt"
	"net"
	"strconv"

	"github.com/go-gst/go-gst/gst"

	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/stream"
)

// serveRTSP serves p over RTSP when it ends in appsinks vout and aout (as
// pipelines/rtsp.pipeline does); stop is nil when it does not.
func serveRTSP(p *gst.Pipeline, cfg Config) (stop func(), err error) {
	if _, err := p.GetElementByName("vout"); err != nil {
		return nil, nil
	}
	if _, err := p.GetElementByName("aout"); err != nil {
		return nil, nil
	}
	addr, path := cfg.RTSP, cfg.RTSPPath
	if addr == "" {
		addr = ":8554"
	}
	if path == "" {
		path = "avatar"
	}
	st, err := stream.New(p, stream.Config{})
	if err != nil {
		return nil, err
	}
	rc := rtspout.Config{Address: addr, UDPRTP: "-"}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		n, _ := strconv.Atoi(port)
		if n > 0 { // UDP on the two ports above the RTSP port, RTP even
			rtp := n + 2 - n%2
			rc.UDPRTP, rc.UDPRTCP = net.JoinHostPort(host, strconv.Itoa(rtp)), net.JoinHostPort(host, strconv.Itoa(rtp+1))
		}
	}
	srv := rtspout.New(rc)
	if err := srv.Start(); err != nil {
		st.Close()
		return nil, err
	}
	if err := srv.Attach(path, st, rtspout.Access{}); err != nil { // avhost run: public, no token
		srv.Close()
		st.Close()
		return nil, err
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "serving rtsp://localhost%s/%s\n", addr, path)
	}
	return func() { srv.Close(); st.Close() }, nil
}
