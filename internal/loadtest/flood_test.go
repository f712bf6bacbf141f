package loadtest

import (
	"errors"
	"strings"
	"testing"
)

// A flood only ever targets (and comes from) loopback: it is a test of one's own host.
func TestPrepareFloodTargetsLoopbackOnly(t *testing.T) {
	for _, c := range []FloodConfig{
		{Base: "http://192.0.2.1:8080"},
		{Base: "http://example.com:8080"},
		{Base: "http://127.0.0.1:8080", Sources: []string{"10.0.0.1"}},
	} {
		if _, err := PrepareFlood(c); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%+v: %v, want ErrNotLoopback", c, err)
		}
	}
	p, err := PrepareFlood(FloodConfig{Base: "http://127.0.0.1:1", Offers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.sink.Close()
	port := p.sink.LocalAddr().String()[len("127.0.0.1:"):]
	for _, o := range p.offers {
		if !strings.Contains(o, "a=candidate:1 1 udp 2130706431 127.0.0.1 "+port+" typ host") || strings.Count(o, "a=candidate") != 2 {
			t.Fatalf("an offer's candidates are not just the loopback sink:\n%s", o)
		}
	}
}
