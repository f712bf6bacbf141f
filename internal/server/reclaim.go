package server

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// reclaimAfterBursts gives the OS back the memory a burst (a flood of connections and
// handshakes) leaves behind, once the process is quiet again. Left to itself Go keeps
// it: a process that allocates slowly reaches its next GC only through the runtime's
// 2-minute forced collection, and the garbage of the burst stays resident until then
// (measured, TestFlood: 113 MiB before a flood, 491 MiB 60 s after it).
//
// Every period it looks: no GC since the last look (the burst is over) and more than
// 16 MiB to win — garbage plus freed pages not yet returned. Then it collects twice
// (sync.Pool caches, Pion's packet buffers among them, survive one collection) and
// returns the free pages. Having done so it acts again only when as much is to be won
// again, so it costs a slow steady allocator no more than a GC per 16 MiB allocated.
// A period ≤ 0 turns it off. It stops when stop is called.
func reclaimAfterBursts(period time.Duration) (stop func()) {
	if period <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
		var lastGC uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			metrics.Read(s)
			gcs, live, objects, free := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64()
			quiet := gcs == lastGC
			lastGC = gcs
			win := free
			if objects > live {
				win += objects - live
			}
			if quiet && win > 16<<20 {
				runtime.GC()
				debug.FreeOSMemory()
				metrics.Read(s)
				lastGC = s[0].Value.Uint64()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
