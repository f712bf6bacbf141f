package rtspout

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
)

func startTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Address, cfg.UDPRTP = "127.0.0.1:0", "-"
	s := New(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.attach("pub", newFakeSource(), Access{})
	return s
}

// options sends OPTIONS on c and returns the status line ("" if the server closed).
func options(c net.Conn) string {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprint(c, "OPTIONS rtsp://127.0.0.1/pub RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	l, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(l)
}

func TestConnectionsPerAddressAreCapped(t *testing.T) {
	s := startTest(t, Config{MaxConnsPerAddr: 2})
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := options(c); !strings.HasPrefix(got, "RTSP/1.0 200") {
			t.Fatalf("connection %d within the cap: %q", i, got)
		}
		held = append(held, c)
	}
	over, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if got := options(over); got != "" {
		t.Fatalf("connection over the cap answered %q", got)
	}
	held[0].Close() // its slot comes back
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		got := options(c)
		c.Close()
		if strings.HasPrefix(got, "RTSP/1.0 200") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed connection's slot never came back: %q", got)
		}
	}
}

func TestReadersOfOneSessionAreCapped(t *testing.T) {
	s := startTest(t, Config{MaxReaders: 1})
	play := func() error {
		tcp := gortsplib.TransportTCP
		c := &gortsplib.Client{Transport: &tcp}
		u, _ := base.ParseURL("rtsp://" + s.Addr().String() + "/pub")
		c.Scheme, c.Host = u.Scheme, u.Host
		if err := c.Start2(); err != nil {
			return err
		}
		t.Cleanup(c.Close)
		desc, _, err := c.Describe(u)
		if err != nil {
			return err
		}
		if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
			return err
		}
		_, err = c.Play(nil)
		return err
	}
	if err := play(); err != nil {
		t.Fatalf("first reader: %v", err)
	}
	if err := play(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("second reader over a cap of 1: %v, want 503", err)
	}
	if n := s.Readers("pub"); n != 1 {
		t.Fatalf("readers: %d", n)
	}
}
