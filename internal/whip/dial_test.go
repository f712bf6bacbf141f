package whip

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestOnlyPublicAddressesArePublic(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::127.0.0.1", false}, // IPv4-compatible
		{"64:ff9b::7f00:1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"::ffff:192.168.1.1", false},
		{"fd00::1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"::ffff:169.254.169.254", false},
		{"fe80::1%eth0", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
	} {
		if got := isPublic(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("isPublic(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

// countingEndpoint is a WHIP endpoint on loopback that counts the TCP connections
// made to it (so a refusal "before any connection" can be seen) and answers 404.
func countingEndpoint(t *testing.T) (port string, conns *atomic.Int32) {
	conns = &atomic.Int32{}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return port, conns
}

// postTo runs one WHIP POST as a publisher under allowlist allow would.
func postTo(t *testing.T, raw string, allow []string) error {
	t.Helper()
	u, err := CheckTarget(raw, "sfu-key", allow)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	p := &Publisher{cfg: Config{Token: "sfu-key"}, endpoint: u, client: publishClient(u, allow)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _, err = p.post(ctx, "v=0\r\n")
	return err
}

// Issue 10 (security review): a publish could reach this host's loopback, its LAN and
// the cloud metadata address, and its status told open, closed and filtered ports apart.
func TestWHIPPublishToANonPublicAddressIsRefusedBeforeConnecting(t *testing.T) {
	port, conns := countingEndpoint(t)
	for _, raw := range []string{
		"http://127.0.0.1:" + port + "/whip",
		"http://[::ffff:127.0.0.1]:" + port + "/whip",
		"http://localhost:" + port + "/whip", // a name that resolves to loopback
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1]:" + port + "/whip",
		"http://10.0.0.1:" + port + "/whip",
	} {
		start := time.Now()
		err := postTo(t, raw, nil)
		if err == nil || !strings.Contains(err.Error(), "not at a public address") || !strings.Contains(err.Error(), "publish_allow") {
			t.Errorf("%s: %v, want a refusal naming publish_allow", raw, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: refused after %v: it tried to connect", raw, took)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the loopback endpoint", n)
	}
	// Listed, the operator's choice goes wherever it resolves.
	err := postTo(t, "http://127.0.0.1:"+port+"/whip", []string{"127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "answered 404") {
		t.Fatalf("a listed loopback endpoint: %v, want its 404", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections to the listed endpoint, want 1", n)
	}
}

// A proxy named in the environment would connect on our behalf, past the address
// check. (Go reads the environment once per process and never proxies loopback, so
// this is checked on the transports rather than by a request.)
func TestWHIPClientsUseNoProxy(t *testing.T) {
	for _, c := range []*http.Client{publicWHIPClient, listedWHIPClient} {
		if c.Transport.(*http.Transport).Proxy != nil {
			t.Fatal("a WHIP client takes a proxy from the environment")
		}
	}
}
