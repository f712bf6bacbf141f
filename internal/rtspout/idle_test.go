package rtspout

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/avhost/avhost/internal/stream"
)

// closedWithin reports whether the server closes c (EOF or reset) within d, and when.
func closedWithin(c net.Conn, d time.Duration) (bool, time.Duration) {
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, time.Since(start)
	}
	return true, time.Since(start)
}

// Issue 10 (security review): gortsplib clears the read deadline, so a connection that
// never sent a byte held its slot forever; 16 addresses took all 1,000.
func TestSilentConnectionIsClosedAndItsSlotFreed(t *testing.T) {
	s := startTest(t, Config{IdleTimeout: 300 * time.Millisecond, MaxConnsPerAddr: 1})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if closed, after := closedWithin(c, 3*time.Second); !closed || after < 250*time.Millisecond {
		t.Fatalf("a connection that sent nothing: closed %v after %v, want closed after the 300 ms limit", closed, after)
	}
	// The slot is given back just after the close the client saw: poll for it.
	for deadline := time.Now().Add(2 * time.Second); ; {
		n, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		got := options(n)
		n.Close()
		if strings.HasPrefix(got, "RTSP/1.0 200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the address's one slot did not come back: %q", got)
		}
	}
}

func TestRequestsKeepAConnectionButATrickledOneDoesNot(t *testing.T) {
	s := startTest(t, Config{IdleTimeout: 400 * time.Millisecond})
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Complete requests, each within the limit, for three times the limit.
	for end := time.Now().Add(1200 * time.Millisecond); time.Now().Before(end); {
		if got := options(c); !strings.HasPrefix(got, "RTSP/1.0 200") {
			t.Fatalf("a connection sending a request every 150 ms was cut: %q", got)
		}
		time.Sleep(150 * time.Millisecond) // the client's pace, not synchronisation
	}
	// One request a byte every 50 ms: 50 bytes would take 2.5 s; the bytes do not
	// renew the limit, so the connection is closed mid-request.
	req := "OPTIONS rtsp://127.0.0.1/pub RTSP/1.0\r\nCSeq: 2\r\n\r\n"
	start := time.Now()
	var werr error
	for i := 0; i < len(req) && werr == nil; i++ {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		_, werr = c.Write([]byte{req[i]})
		time.Sleep(50 * time.Millisecond) // the attacker's pace
		if c.SetReadDeadline(time.Now().Add(time.Millisecond)); werr == nil {
			if _, rerr := c.Read(make([]byte, 64)); rerr != nil && !isTimeout(rerr) {
				werr = rerr
			}
		}
	}
	if werr == nil {
		t.Fatal("a request trickled a byte at a time over 2.5 s was read to its end")
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("the trickle was cut after %v, want about 400 ms", took)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tickSource sends one small H.264 packet every 20 ms to its subscribers.
type tickSource struct {
	*fakeSource
	mu   sync.Mutex
	subs []func(*stream.Unit)
	stop chan struct{}
}

func newTickSource(t *testing.T) *tickSource {
	ts := &tickSource{fakeSource: newFakeSource(), stop: make(chan struct{})}
	t.Cleanup(func() { close(ts.stop) })
	go func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-ts.stop:
				return
			case <-tk.C:
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: seq, Timestamp: uint32(seq) * 1800},
				Payload: []byte{0x65, 0x88, 0x84, 0x00}}
			ts.mu.Lock()
			for _, f := range ts.subs {
				f(&stream.Unit{Video: true, Key: true, Packets: []*rtp.Packet{p}, NTP: time.Now()})
			}
			ts.mu.Unlock()
		}
	}()
	return ts
}

func (ts *tickSource) subscribe(f func(*stream.Unit)) (func(), error) {
	ts.mu.Lock()
	ts.subs = append(ts.subs, f)
	ts.mu.Unlock()
	return func() {}, nil
}

// freeUDPPair finds an even UDP port on loopback whose next one is free too (RTP and
// RTCP, as gortsplib wants them).
func freeUDPPair(t *testing.T) (rtpAddr, rtcpAddr string) {
	for i := 0; i < 50; i++ {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port &^ 1
		a.Close()
		r, err1 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		q, err2 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if r != nil {
			r.Close()
		}
		if q != nil {
			q.Close()
		}
		if err1 == nil && err2 == nil {
			return fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

// A playing reader is not held to the handshake limit: over TCP its connection is
// quiet between receiver reports, and over UDP it sends nothing here at all but a
// keepalive every 30 s (gortsplib's client), yet both must play on.
func TestPlayingReadersOutliveTheHandshakeLimit(t *testing.T) {
	for _, tr := range []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP} {
		t.Run(tr.String(), func(t *testing.T) {
			cfg := Config{Address: "127.0.0.1:0", UDPRTP: "-", IdleTimeout: 300 * time.Millisecond}
			if tr == gortsplib.TransportUDP {
				cfg.UDPRTP, cfg.UDPRTCP = freeUDPPair(t)
			}
			s := New(cfg)
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			s.attach("live", newTickSource(t), Access{})

			c := &gortsplib.Client{Transport: &tr}
			u, _ := base.ParseURL("rtsp://" + s.Addr().String() + "/live")
			c.Scheme, c.Host = u.Scheme, u.Host
			if err := c.Start2(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			desc, _, err := c.Describe(u)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
				t.Fatal(err)
			}
			var got atomic.Int64
			c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { got.Add(1) })
			if _, err := c.Play(nil); err != nil {
				t.Fatal(err)
			}
			// Five times the handshake limit, then packets must still be arriving.
			end := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(end) {
				time.Sleep(50 * time.Millisecond)
			}
			before := got.Load()
			deadline := time.Now().Add(2 * time.Second)
			for got.Load() < before+10 {
				if time.Now().After(deadline) {
					t.Fatalf("after 1.5 s the reader stopped receiving (%d packets in all)", got.Load())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if before < 30 {
				t.Fatalf("%d packets in the first 1.5 s", before)
			}
			if n := s.Readers("live"); n != 1 {
				t.Fatalf("readers: %d, want 1", n)
			}
		})
	}
}
