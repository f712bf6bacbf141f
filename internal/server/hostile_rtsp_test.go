package server_test

import (
	"context"
	"encoding/base64"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"

	"github.com/avhost/avhost/client"
	"github.com/avhost/avhost/internal/testsupport/testenv"
)

// Issue 10, rows 3 and 11: RTSP on a private session, Digest nonces, ffmpeg logins,
// and parameter sets in the SDP.

// rtspConn is one RTSP connection driven by hand, to see exactly what the server says.
type rtspConn struct {
	t    *testing.T
	nc   net.Conn
	c    *conn.Conn
	cseq int
}

func dialRTSP(t *testing.T, addr string) *rtspConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rtspConn{t: t, nc: nc, c: conn.NewConn(nc)}
}

// do sends one request (with Authorization authz, if set) and reads the response.
func (r *rtspConn) do(method base.Method, url, authz string) *base.Response {
	r.t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		r.t.Fatal(err)
	}
	r.cseq++
	req := &base.Request{Method: method, URL: u, Header: base.Header{"CSeq": {strconv.Itoa(r.cseq)}}}
	if authz != "" {
		req.Header["Authorization"] = base.HeaderValue{authz}
	}
	r.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := r.c.WriteRequest(req); err != nil {
		r.t.Fatal(err)
	}
	res, err := r.c.ReadResponse()
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// login answers the connection's challenge for DESCRIBE url as a player would; it
// returns the response and the Authorization it sent.
func (r *rtspConn) login(url, user, pass string) (*base.Response, string) {
	r.t.Helper()
	ch := r.do(base.Describe, url, "")
	if ch.StatusCode != base.StatusUnauthorized {
		r.t.Fatalf("DESCRIBE without credentials: %d, want a 401 challenge", ch.StatusCode)
	}
	se := &auth.Sender{WWWAuth: ch.Header["WWW-Authenticate"], User: user, Pass: pass}
	if err := se.Initialize(); err != nil {
		r.t.Fatal(err)
	}
	u, _ := base.ParseURL(url)
	req := &base.Request{Method: base.Describe, URL: u}
	se.AddAuthorization(req)
	authz := req.Header["Authorization"][0]
	return r.do(base.Describe, url, authz), authz
}

// rtspServe starts a host serving RTSP with the public credentials user/pass (none if
// empty) and the demo session; it returns the host and rtsp://ADDR/.
func rtspServe(t *testing.T, user, pass string) (*host, string) {
	h, demo := rtspHost(t, user, pass)
	return h, strings.TrimSuffix(demo, "demo")
}

// probe runs ffprobe on url for 3 s and returns the packets read per codec.
func probe(t *testing.T, url string) (map[string]int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+3",
		"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
	got := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Split(l, ","); len(f) == 2 {
			got[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	return got, string(out), err
}

var nonceRe = regexp.MustCompile(`nonce="[0-9a-f]*"`)

func TestHostileRTSPPrivateSessionNeedsItsToken(t *testing.T) {
	h, base0 := rtspServe(t, "", "")
	addr := strings.TrimSuffix(strings.TrimPrefix(base0, "rtsp://"), "/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dial(t, h).Create(ctx, "private", nil, nil, client.WithViewerToken("v-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	url := base0 + "private"

	t.Run("ffprobe without the token is refused", func(t *testing.T) {
		got, out, err := probe(t, url)
		if err == nil || !strings.Contains(out, "401") {
			t.Fatalf("ffprobe without credentials: err %v, %v\n%s", err, got, out)
		}
	})
	t.Run("a private session answers as an unknown path does", func(t *testing.T) {
		answer := func(path, authz string) string {
			res := dialRTSP(t, addr).do(base.Describe, base0+path, authz)
			return strconv.Itoa(int(res.StatusCode)) + " " + nonceRe.ReplaceAllString(strings.Join(res.Header["WWW-Authenticate"], "|"), `nonce="N"`) +
				" body=" + strconv.Itoa(len(res.Body))
		}
		wrong := `Digest username="x", realm="avhost", nonce="00", uri="` + base0 + `%s", response="0123456789abcdef0123456789abcdef"`
		for _, authz := range []string{"", wrong} {
			p, u := answer("private", strings.ReplaceAll(authz, "%s", "private")), answer("no-such-session", strings.ReplaceAll(authz, "%s", "no-such-session"))
			if p != u || !strings.HasPrefix(p, "401 Digest") {
				t.Fatalf("private: %q\nunknown: %q", p, u)
			}
		}
	})
	t.Run("ffprobe with the viewer token reads both streams", func(t *testing.T) {
		testenv.Long(t)
		got, out, err := probe(t, "rtsp://viewer:v-secret-0123456789@"+addr+"/private")
		if err != nil || got["h264"] == 0 || got["opus"] == 0 {
			t.Fatalf("ffprobe: %v %v\n%s", err, got, out)
		}
	})
	t.Run("ffprobe with the host token reads both streams", func(t *testing.T) {
		testenv.Long(t)
		got, out, err := probe(t, "rtsp://host:"+token+"@"+addr+"/private")
		if err != nil || got["h264"] == 0 || got["opus"] == 0 {
			t.Fatalf("ffprobe: %v %v\n%s", err, got, out)
		}
	})
	t.Run("rtspsrc with the viewer token decodes frames", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "gst-launch-1.0", "-q", "rtspsrc", "location="+url, "user-id=viewer", "user-pw=v-secret-0123456789",
			"protocols=tcp", "name=s",
			"s.", "!", "queue", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "identity", "eos-after=5", "!", "fakesink",
			"s.", "!", "queue", "!", "rtpopusdepay", "!", "opusdec", "!", "identity", "eos-after=10", "!", "fakesink").CombinedOutput()
		if err != nil {
			t.Fatalf("rtspsrc: %v\n%s", err, out)
		}
	})
	t.Run("rtspsrc with a wrong token is refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "gst-launch-1.0", "rtspsrc", "location="+url, "user-id=viewer", "user-pw=v-guess",
			"protocols=tcp", "!", "fakesink").CombinedOutput()
		if !strings.Contains(string(out), "Unauthorized (401)") {
			t.Fatalf("rtspsrc with a wrong token: %v\n%s", err, out)
		}
	})
}

func TestHostileRTSPFFmpegLogsInAndCopiesToMatroska(t *testing.T) {
	_, base0 := rtspServe(t, "reader", "r-pass")
	addr := strings.TrimSuffix(strings.TrimPrefix(base0, "rtsp://"), "/")
	mkv := filepath.Join(t.TempDir(), "out.mkv")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", "rtsp://reader:r-pass@"+addr+"/demo",
		"-t", "3", "-c", "copy", mkv).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg -c copy: %v\n%s", err, out)
	}
	// Every packet of the copy decodes: the SPS/PPS the muxer took from the SDP are real.
	out, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "csv=p=0", mkv).CombinedOutput()
	if err != nil || !regexp.MustCompile(`h264,[1-9]`).Match(out) || !regexp.MustCompile(`opus,[1-9]`).Match(out) {
		t.Fatalf("the copy: %v\n%s", err, out)
	}
	t.Logf("ffmpeg -c copy to Matroska, 3 s: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " "))

	res, _ := dialRTSP(t, addr).login(base0+"demo", "reader", "r-pass")
	if res.StatusCode != base.StatusOK {
		t.Fatalf("DESCRIBE with credentials: %d", res.StatusCode)
	}
	m := regexp.MustCompile(`sprop-parameter-sets=([A-Za-z0-9+/=]+),([A-Za-z0-9+/=]+)`).FindSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no sprop-parameter-sets in\n%s", res.Body)
	}
	for i, want := range []byte{7, 8} {
		nalu, err := base64.StdEncoding.DecodeString(string(m[i+1]))
		if err != nil || len(nalu) < 2 || nalu[0]&0x80 != 0 || nalu[0]&0x1f != want {
			t.Fatalf("parameter set %d: %x (%v), want NAL type %d", i, nalu, err, want)
		}
	}
}

func TestHostileRTSPDigestAnswerDoesNotReplay(t *testing.T) {
	_, base0 := rtspServe(t, "reader", "r-pass")
	addr := strings.TrimSuffix(strings.TrimPrefix(base0, "rtsp://"), "/")
	url := base0 + "demo"
	first := dialRTSP(t, addr)
	res, authz := first.login(url, "reader", "r-pass")
	if res.StatusCode != base.StatusOK {
		t.Fatalf("login: %d", res.StatusCode)
	}
	// An eavesdropper replays the captured Authorization on its own connection.
	second := dialRTSP(t, addr)
	if res := second.do(base.Describe, url, authz); res.StatusCode != base.StatusUnauthorized {
		t.Fatalf("replayed answer on a new connection: %d, want 401", res.StatusCode)
	}
	// The answer still works where it was made, and the new connection can log in itself.
	if res := first.do(base.Describe, url, authz); res.StatusCode != base.StatusOK {
		t.Fatalf("the answer on its own connection: %d", res.StatusCode)
	}
	if res, _ := dialRTSP(t, addr).login(url, "reader", "r-pass"); res.StatusCode != base.StatusOK {
		t.Fatalf("a fresh login: %d", res.StatusCode)
	}
}
