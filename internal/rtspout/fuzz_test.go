package rtspout

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/stream"
)

// fakeSource is a stream source with fixed parameter sets and no media.
type fakeSource struct {
	sps, pps []byte
	known    chan struct{}
}

func newFakeSource() *fakeSource {
	k := make(chan struct{})
	close(k)
	return &fakeSource{sps: []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}, pps: []byte{0x68, 0xce, 0x3c, 0x80}, known: k}
}

func (f *fakeSource) subscribe(func(*stream.Unit)) (func(), error) { return func() {}, nil }
func (f *fakeSource) RequestKeyFrame()                             {}
func (f *fakeSource) H264Params() ([]byte, []byte, <-chan struct{}) {
	return f.sps, f.pps, f.known
}

// memConn is one client connection in memory: the server reads data, then end of
// input; what it writes is counted and dropped. Loopback TCP would run out of
// ephemeral ports at fuzzing rates (TIME_WAIT), so the real server gets these instead.
type memConn struct {
	r       *bytes.Reader
	written atomic.Int64
	closed  chan struct{}
	once    sync.Once
}

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { c.written.Add(int64(len(b))); return len(b), nil }
func (c *memConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8554} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// memListener hands the server the connections sent on it.
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *memListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *memListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8554} }

var (
	fuzzOnce sync.Once
	fuzzLn   *memListener
)

// fuzzServer is one real server per fuzzing process (gortsplib and our handlers, TCP
// only, in-memory connections) with a public and a private session.
func fuzzServer(t testing.TB) *memListener {
	fuzzOnce.Do(func() {
		ln := &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
		s := New(Config{Address: "127.0.0.1:8554", UDPRTP: "-", HostToken: "host-token"})
		s.listen = func(string, string) (net.Listener, error) { return ln, nil }
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		s.attach("pub", newFakeSource(), Access{})
		s.attach("priv", newFakeSource(), Access{ViewerToken: "viewer-token"})
		fuzzLn = ln
	})
	if fuzzLn == nil {
		t.Fatal("no server")
	}
	return fuzzLn
}

// FuzzRTSPRequest sends arbitrary bytes as the whole of a connection's requests to a
// running server: it must not panic, and must answer and close the connection within
// a bound once the input ends.
func FuzzRTSPRequest(f *testing.F) {
	const u = "rtsp://127.0.0.1:8554/"
	for _, s := range []string{
		"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"DESCRIBE " + u + "pub RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"DESCRIBE " + u + "priv RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"DESCRIBE " + u + "priv RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Digest username=\"x\", realm=\"avhost\", nonce=\"00\", uri=\"" + u + "priv\", response=\"00\"\r\n\r\n",
		"DESCRIBE " + u + "priv RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic eDpob3N0LXRva2Vu\r\n\r\n",
		"DESCRIBE " + u + "priv RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Digest username=\"x\", realm=\"avhost\", algorithm=\"SHA-256\"\r\n\r\n",
		"DESCRIBE " + u + "pub RTSP/1.0\r\nCSeq: 1\r\n\r\nSETUP " + u + "pub/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n" +
			"PLAY " + u + "pub RTSP/1.0\r\nCSeq: 3\r\n\r\nTEARDOWN " + u + "pub RTSP/1.0\r\nCSeq: 4\r\n\r\n",
		"SETUP " + u + "priv/trackID=1 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=2-3\r\n\r\n",
		"PLAY " + u + "priv RTSP/1.0\r\nCSeq: 1\r\nSession: 12345678\r\n\r\n",
		"GET_PARAMETER " + u + "pub RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nabcd",
		"$\x00\x00\x04abcd",
		"HELLO there\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	ln := fuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &memConn{r: bytes.NewReader(data), closed: make(chan struct{})}
		select {
		case ln.conns <- c:
		case <-time.After(10 * time.Second):
			t.Fatal("the server accepts no connection")
		}
		// The server answers what it parsed and closes at end of input; no close
		// within the bound is unbounded work (or a stuck connection).
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("no close within 10 s of end of input (%d bytes written)", c.written.Load())
		}
	})
}
