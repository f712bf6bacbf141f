package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/procstat"
)

// gate is a handler that holds every request until opened, counting how many it
// holds at once.
type gate struct {
	open      chan struct{}
	now, peak atomic.Int64
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := g.now.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	<-g.open
	g.now.Add(-1)
	io.Copy(io.Discard, r.Body)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
}

func TestAdmissionHoldsExactlyTheCapAndShedsPastTheQueue(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	h := admit(g, AdmissionConfig{Handshakes: 3, Queue: 2, QueueWait: 10 * time.Second})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var opened sync.Once
	release := func() { opened.Do(func() { close(g.open) }) }
	defer release() // before Close, which waits for the handlers, even when failing
	type answer struct {
		status     int
		retryAfter string
	}
	answers := make(chan answer, 10)
	offer := func() {
		resp, err := http.Post(srv.URL+"/whep/demo", "application/sdp", strings.NewReader("v=0\r\n"))
		if err != nil {
			answers <- answer{}
			return
		}
		resp.Body.Close()
		answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
	}
	for range 3 {
		go offer()
	}
	waitUntil(t, "3 offers are being handled", func() bool { return g.now.Load() == 3 })
	for range 2 {
		go offer()
	}
	a, ok := h.(*admission)
	if !ok {
		t.Fatal("admission control is off")
	}
	waitUntil(t, "2 offers wait for a slot", func() bool { return a.waiting.Load() == 2 })
	for range 5 {
		go offer()
	}
	for range 5 {
		if got := <-answers; got.status != http.StatusServiceUnavailable || got.retryAfter != "1" {
			t.Fatalf("an offer past the cap and the queue got %d (Retry-After %q), want 503 with Retry-After: 1", got.status, got.retryAfter)
		}
	}
	release()
	for range 5 {
		if got := <-answers; got.status != http.StatusOK {
			t.Fatalf("an admitted or queued offer got %d", got.status)
		}
	}
	if p := g.peak.Load(); p != 3 {
		t.Fatalf("%d offers were handled at once, want the cap of 3", p)
	}
}

// A client that trickles its offer's body holds no slot: the body is read first.
func TestAdmissionSlowBodiesHoldNoSlot(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	adm := admit(g, AdmissionConfig{Handshakes: 1, Queue: -1})
	var entered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		adm.ServeHTTP(w, r)
	}))
	defer srv.Close()
	for range 3 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /whep/demo HTTP/1.1\r\nHost: x\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0")
	}
	waitUntil(t, "the slow offers are in admission", func() bool { return entered.Load() == 3 })
	resp, err := http.Post(srv.URL+"/whep/demo", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with 3 slow bodies pending, an offer got %d: they hold the only slot", resp.StatusCode)
	}
}

// A WebSocket upgrade holds its slot only until the handler takes the connection.
func TestAdmissionUpgradeFreesItsSlotAtHijack(t *testing.T) {
	var held sync.WaitGroup
	hijack := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		held.Add(1)
		go func() { // holds the connection as a WebSocket read pump would
			defer held.Done()
			io.Copy(io.Discard, c)
		}()
	})
	srv := httptest.NewServer(admit(hijack, AdmissionConfig{Handshakes: 1, Queue: -1}))
	defer func() { srv.CloseClientConnections(); srv.Close(); held.Wait() }()
	for i := range 3 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.Contains(status, "101") {
			t.Fatalf("upgrade %d with one slot and upgraded connections open: %q %v", i+1, status, err)
		}
	}
}

// After a burst of allocation the process goes quiet: the reclaimer collects and gives
// the memory back, where Go alone would keep it until its 2-minute forced GC.
func TestReclaimGivesABurstsMemoryBack(t *testing.T) {
	debug.FreeOSMemory()
	base := procstat.RSSKB(0)
	peak := allocBurst(256)
	if peak-base < 200<<10 {
		t.Fatalf("the burst added only %d KiB", peak-base)
	}
	stop := reclaimAfterBursts(50 * time.Millisecond)
	defer stop()
	waitUntil(t, "RSS falls back", func() bool { return procstat.RSSKB(0) < base+64<<10 })
	t.Logf("RSS %d MiB before, %d MiB after a 256 MiB burst, %d MiB once reclaimed", base>>10, peak>>10, procstat.RSSKB(0)>>10)
}

// allocBurst makes n MiB resident, all garbage once it returns; it returns RSS (KiB)
// at the burst's peak.
func allocBurst(n int) int {
	burst := make([][]byte, n)
	for i := range burst {
		burst[i] = make([]byte, 1<<20)
		for j := 0; j < len(burst[i]); j += 4096 {
			burst[i][j] = 1
		}
	}
	peak := procstat.RSSKB(0)
	runtime.KeepAlive(burst)
	return peak
}
