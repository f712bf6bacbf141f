package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/base"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/rtspout"
	"github.com/avhost/avhost/internal/server"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/avmeasure"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// rtspPorts finds a free TCP port and a free even/odd UDP pair for RTP/RTCP.
func rtspPorts(t testing.TB) rtspout.Config {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for p := 20000 + 2*(time.Now().Nanosecond()%5000); p < 65000; p += 2 {
		a, err1 := net.ListenPacket("udp", ":"+strconv.Itoa(p))
		b, err2 := net.ListenPacket("udp", ":"+strconv.Itoa(p+1))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if err1 == nil && err2 == nil {
			return rtspout.Config{Address: addr, UDPRTP: ":" + strconv.Itoa(p), UDPRTCP: ":" + strconv.Itoa(p+1)}
		}
	}
	t.Fatal("no free UDP pair")
	return rtspout.Config{}
}

func rtspHost(t *testing.T, user, pass string) (*host, string) {
	rc := rtspPorts(t)
	rc.User, rc.Pass = user, pass
	h := startHost(t, func(c *server.Config) {
		yes := true
		c.Demo, c.DemoLoop = &yes, 2*time.Second
		c.Session = session.Config{Width: 128, Height: 128}
		c.RTSP = rc
	})
	return h, "rtsp://" + rc.Address + "/demo"
}

func TestRTSPPlaysInFFprobeAndRtspsrc(t *testing.T) {
	testenv.Long(t)
	_, url := rtspHost(t, "", "")
	for _, proto := range []string{"udp", "tcp"} {
		t.Run("ffprobe over "+proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", proto, "-read_intervals", "%+3",
				"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			got := map[string]int{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(l, ",")
				if len(f) == 2 {
					got[f[0]], _ = strconv.Atoi(f[1])
				}
			}
			if got["h264"] == 0 || got["opus"] == 0 {
				t.Fatalf("want h264 and opus packets, got %q", out)
			}
			t.Logf("ffprobe over %s: %v packets in 3 s", proto, got)
		})
		t.Run("rtspsrc over "+proto, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "gst-launch-1.0", "-q", "rtspsrc", "location="+url, "protocols="+proto, "name=s",
				"s.", "!", "queue", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "identity", "eos-after=25", "!", "fakesink",
				"s.", "!", "queue", "!", "rtpopusdepay", "!", "opusdec", "!", "identity", "eos-after=50", "!", "fakesink").CombinedOutput()
			if err != nil {
				t.Fatalf("rtspsrc: %v\n%s", err, out)
			}
		})
	}
}

func rtspRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprint(c, req)
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestRTSPBadInput(t *testing.T) {
	_, url := rtspHost(t, "viewer", "pw")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "rtsp://"), "/demo")
	cases := []struct{ name, req, want string }{
		{"no credentials is 401", "DESCRIBE " + url + " RTSP/1.0\r\nCSeq: 1\r\n\r\n", "RTSP/1.0 401"},
		{"Basic, which would send the password in clear, is 401", "DESCRIBE " + url + " RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic dmlld2VyOnB3\r\n\r\n", "RTSP/1.0 401"},
		{"garbage is 400 or a close", "HELLO there\r\n\r\n", "RTSP/1.0 400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rtspRequest(t, addr, c.req)
			if !strings.HasPrefix(got, c.want) && !(strings.Contains(c.name, "close") && got == "") {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	// Digest logins after all of it: a wrong path is 404 only to the host token (to
	// the reader's credentials it is a 401, as a private session would be).
	for _, c := range []struct {
		path, user, pass string
		want             base.StatusCode
	}{{"demo", "viewer", "pw", base.StatusOK}, {"nope", "viewer", "pw", base.StatusUnauthorized}, {"nope", "any", token, base.StatusNotFound}} {
		if res, _ := dialRTSP(t, addr).login("rtsp://"+addr+"/"+c.path, c.user, c.pass); res.StatusCode != c.want {
			t.Fatalf("/%s as %s: %d, want %d", c.path, c.user, res.StatusCode, c.want)
		}
	}
}

// TestRTSPLipSync records the flash+beep pattern through rtspsrc (which lip-syncs from
// RTCP Sender Reports) into Matroska and measures the offset in the recording.
func TestRTSPLipSync(t *testing.T) {
	testenv.Long(t)
	h, url := rtspHost(t, "", "")
	sess, _ := h.srv.Sessions.Get("demo")
	out := filepath.Join(t.TempDir(), "rtsp.mkv")
	cmd := exec.Command("gst-launch-1.0", "-e", "-q", "rtspsrc", "location="+url, "protocols=tcp", "name=s",
		"s.", "!", "queue", "!", "rtph264depay", "!", "h264parse", "!", "mux.",
		"s.", "!", "queue", "!", "rtpopusdepay", "!", "opusparse", "!", "mux.",
		"matroskamux", "name=mux", "!", "filesink", "location="+out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := demo.PlayPulses(ctx, sess, 1, 12); err != nil {
		t.Fatal(err)
	}
	time.Sleep(13 * time.Second) // the recording window: 12 pulses
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("recorder: %v", err)
	}
	fl, err := avmeasure.Flashes(out)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := avmeasure.Beeps(out)
	if err != nil {
		t.Fatal(err)
	}
	off := avmeasure.Offsets(fl, bp)
	if len(off) < 8 {
		t.Fatalf("only %d pulse pairs (flashes %v, beeps %v)", len(off), fl, bp)
	}
	abs := make([]float64, len(off))
	for i, o := range off {
		abs[i] = math.Abs(o)
	}
	med := avmeasure.Percentile(off, 0.5)
	t.Logf("RTSP recording, %d pulses: beep minus flash median %+.1f ms, p95 |offset| %.1f ms (%.0f)", len(off), med, avmeasure.Percentile(abs, 0.95), off)
	if math.Abs(med) > 45 {
		t.Fatalf("median offset %.1f ms exceeds 45 ms", med)
	}
}

// TestRTSPReaderThatStopsReadingHurtsNoOne: a TCP reader sets up and plays, then
// never reads again; another reader still gets both streams.
func TestRTSPReaderThatStopsReadingHurtsNoOne(t *testing.T) {
	testenv.Long(t)
	_, url := rtspHost(t, "", "")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "rtsp://"), "/demo")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	r := bufio.NewReader(c)
	cseq := 0
	do := func(req string) (status string, hdr map[string]string, body string) {
		cseq++
		fmt.Fprintf(c, "%sCSeq: %d\r\n\r\n", req, cseq)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		status, _ = r.ReadString('\n')
		hdr = map[string]string{}
		for {
			l, _ := r.ReadString('\n')
			l = strings.TrimSpace(l)
			if l == "" {
				break
			}
			k, v, _ := strings.Cut(l, ":")
			hdr[strings.ToLower(k)] = strings.TrimSpace(v)
		}
		if n, _ := strconv.Atoi(hdr["content-length"]); n > 0 {
			b := make([]byte, n)
			io.ReadFull(r, b)
			body = string(b)
		}
		return strings.TrimSpace(status), hdr, body
	}
	st, _, sdp := do("DESCRIBE " + url + " RTSP/1.0\r\nAccept: application/sdp\r\n")
	if !strings.HasPrefix(st, "RTSP/1.0 200") {
		t.Fatalf("DESCRIBE: %s", st)
	}
	var session string
	ch := 0
	for _, l := range strings.Split(sdp, "\n") {
		if ctl, ok := strings.CutPrefix(strings.TrimSpace(l), "a=control:"); ok && ctl != "*" {
			sess := ""
			if session != "" {
				sess = "Session: " + session + "\r\n"
			}
			st, h, _ := do(fmt.Sprintf("SETUP %s/%s RTSP/1.0\r\nTransport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n%s", url, ctl, ch, ch+1, sess))
			if !strings.HasPrefix(st, "RTSP/1.0 200") {
				t.Fatalf("SETUP %s: %s", ctl, st)
			}
			session, _, _ = strings.Cut(h["session"], ";")
			ch += 2
		}
	}
	if st, _, _ := do("PLAY " + url + " RTSP/1.0\r\nSession: " + session + "\r\n"); !strings.HasPrefix(st, "RTSP/1.0 200") {
		t.Fatalf("PLAY: %s", st)
	}
	// This reader now reads nothing. Another one plays fine for 4 s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+4",
		"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "h264,") || !strings.Contains(string(out), "opus,") {
		t.Fatalf("second reader: %v\n%s", err, out)
	}
	t.Logf("while a reader stalls, another read: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " "))
}
