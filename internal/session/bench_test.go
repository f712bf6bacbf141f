package session_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/avhost/avhost/internal/demo"
	"github.com/avhost/avhost/internal/procstat"
	"github.com/avhost/avhost/internal/session"
	"github.com/avhost/avhost/internal/testsupport/gsttest"
)

// BenchmarkSessions runs 8 live 512×512@25 sessions with H.264 + Opus encode, each
// with the demo avatar speaking back to back, for AVHOST_BENCH_SECONDS (default 60),
// and reports CPU and RSS per session and the underruns (the goal is 0).
func BenchmarkSessions(b *testing.B) {
	gsttest.Init()
	secs, _ := strconv.Atoi(os.Getenv("AVHOST_BENCH_SECONDS"))
	if secs == 0 {
		secs = 60
	}
	const n = 8
	for it := 0; it < b.N; it++ {
		runtime.GC()
		rss0 := procstat.RSSKB(0)
		m := &session.Manager{}
		var avatars []*demo.Avatar
		for i := 0; i < n; i++ {
			s, err := m.Create(session.Config{ID: fmt.Sprintf("s%d", i)})
			if err != nil {
				b.Fatal(err)
			}
			a, err := demo.Start(s, 3100*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			avatars = append(avatars, a)
		}
		c0, w0 := procstat.CPU(), time.Now()
		time.Sleep(time.Duration(secs) * time.Second) // the measurement window
		c1, w1 := procstat.CPU(), time.Now()
		rss1 := procstat.RSSKB(0)
		var underruns, utterances, chunks uint64
		for _, s := range m.List() {
			st := s.Stats()
			underruns += st.Audio.Underruns
			utterances += st.Utterances
			chunks += st.Audio.Chunks
		}
		for _, a := range avatars {
			a.Stop()
		}
		m.CloseAll()
		b.ReportMetric(n, "sessions")
		b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0))/n, "%core/session")
		b.ReportMetric(float64(rss1-rss0)/1024/n, "MiB-RSS/session")
		b.ReportMetric(float64(underruns), "underruns")
		b.Logf("%d sessions for %ds: %d utterances, %d chunks, %d underruns, RSS %d→%d MiB",
			n, secs, utterances, chunks, underruns, rss0/1024, rss1/1024)
		if underruns != 0 {
			b.Errorf("%d underruns", underruns)
		}
	}
}
