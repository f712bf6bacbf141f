package runner_test

import (
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// recordServer is an RTSP server that accepts one publisher (ANNOUNCE/RECORD), like
// MediaMTX would, and counts what arrives per codec.
type recordServer struct {
	mu     sync.Mutex
	codecs []string
	pkts   atomic.Int64
	opus   atomic.Int64
}

func (r *recordServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	r.mu.Lock()
	for _, m := range ctx.Description.Medias {
		for _, f := range m.Formats {
			r.codecs = append(r.codecs, f.Codec())
		}
	}
	r.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *recordServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (r *recordServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(_ *description.Media, f format.Format, _ *rtp.Packet) {
		r.pkts.Add(1)
		if f.Codec() == "Opus" {
			r.opus.Add(1)
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func TestRunPushesToAnRTSPServer(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	rs := &recordServer{}
	srv := &gortsplib.Server{Handler: rs, RTSPAddress: addr}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	wav, frames := writeInputs(t, dir)
	out, err := exec.Command(avhostBin(t), "run", "-q", "../../pipelines/rtsp-push.pipeline", "--audio", wav, "--frames", frames,
		"--fps", "25", "--width", "128", "--height", "128", "--out", "rtsp://"+addr+"/avatar").CombinedOutput()
	if err != nil {
		t.Fatalf("avhost run rtsp-push: %v\n%s", err, out)
	}
	rs.mu.Lock()
	codecs := strings.Join(rs.codecs, ",")
	rs.mu.Unlock()
	if !strings.Contains(codecs, "H264") || !strings.Contains(codecs, "Opus") || rs.pkts.Load() < 100 {
		t.Fatalf("the RTSP server got codecs %q and %d packets", codecs, rs.pkts.Load())
	}
	// All of it: the run does not stop before the sink has had every stream's end.
	if want := int64(seconds * 50); rs.opus.Load() < want {
		t.Fatalf("%d Opus packets for %d s of audio, want %d", rs.opus.Load(), seconds, want)
	}
	t.Logf("pushed %s, %d RTP packets (%d Opus)", codecs, rs.pkts.Load(), rs.opus.Load())
}
