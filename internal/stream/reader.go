package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Reader is one subscriber of a stream: a video rendition and the audio track,
// delivered to its function on a goroutine of its own through a bounded queue.
type Reader struct {
	s    *Stream
	f    func(*Unit)
	q    chan *Unit
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// every, when set, batches delivery (SubscribeEvery).
	every time.Duration

	drops atomic.Uint64
	// audioLoss is its viewer's smoothed audio loss (ReportAudioLoss).
	audioLoss lossEWMA

	mu sync.Mutex
	// cur is the rendition delivered; next, when set, the one to switch to at its
	// next key frame.
	cur, next *track
	// waitKey: a video unit was dropped, so the units up to the next key frame would
	// not decode; they are skipped (and counted as drops) rather than delivered.
	waitKey bool
	// closed: the reader has let go of its renditions' gates (cur and next are each
	// held, acquired, while set and the reader is open).
	closed bool
}

// Subscribe delivers the stream's audio and video rendition ("" is the default) to
// f, in order, on a goroutine of the reader's own, until Close. queue bounds the
// units waiting for f (0: DefaultQueue); when it is full, the unit is dropped and
// counted (Drops), and after a dropped video unit video resumes at the next key
// frame. f must not call the reader's Close (Close waits for f to return).
func (s *Stream) Subscribe(rendition string, queue int, f func(*Unit)) (*Reader, error) {
	return s.SubscribeEvery(rendition, queue, 0, f)
}

// SubscribeEvery is Subscribe for a consumer that needs no low latency (a
// recording): the reader wakes every period and hands f what its queue holds, so it
// costs a wakeup per period instead of one per unit (a pump's send to a reader not
// waiting readies no goroutine). The queue must hold a period's units. 0 is Subscribe.
func (s *Stream) SubscribeEvery(rendition string, queue int, every time.Duration, f func(*Unit)) (*Reader, error) {
	t, err := s.rendition(rendition)
	if err != nil {
		return nil, err
	}
	if queue <= 0 {
		queue = DefaultQueue
	}
	r := &Reader{s: s, f: f, cur: t, q: make(chan *Unit, queue), stop: make(chan struct{}), done: make(chan struct{}), every: every}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	t.acquire()
	old := *s.readers.Load()
	rs := make([]*Reader, len(old), len(old)+1)
	copy(rs, old)
	rs = append(rs, r)
	s.readers.Store(&rs)
	go r.run()
	return r, nil
}

func (r *Reader) run() {
	defer close(r.done)
	if r.every > 0 {
		r.runEvery()
		return
	}
	for {
		select {
		case <-r.stop:
			return
		case u := <-r.q:
			r.f(u)
		}
	}
}

// runEvery drains the queue every r.every.
func (r *Reader) runEvery() {
	tk := time.NewTicker(r.every)
	defer tk.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tk.C:
		}
		for n := len(r.q); n > 0; n-- {
			select {
			case <-r.stop:
				return
			case u := <-r.q:
				r.f(u)
			}
		}
	}
}

// offer queues u for the reader if it wants it; it never blocks (it runs on a pump).
func (r *Reader) offer(t *track, u *Unit) {
	if !t.video {
		r.push(u)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return
	case t == r.next && u.Key: // the switch takes effect
		r.cur.release()
		r.cur, r.next, r.waitKey = t, nil, false
	case t != r.cur:
		return
	case r.waitKey && !u.Key:
		r.drops.Add(1)
		return
	}
	r.waitKey = false
	if !r.push(u) {
		r.waitKey = true
	}
}

func (r *Reader) push(u *Unit) bool {
	select {
	case r.q <- u:
		return true
	default:
		r.drops.Add(1)
		return false
	}
}

// Drops is the number of units the reader did not get because its queue was full,
// and video units skipped after such a drop until the next key frame.
func (r *Reader) Drops() uint64 { return r.drops.Load() }

// Rendition is the video rendition being delivered.
func (r *Reader) Rendition() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.name
}

// Switch moves the reader to video rendition name ("" is the default) at that
// rendition's next key frame, which it asks for (a gated rendition's encoder starts
// now); until then the current rendition goes on, and a pending switch to a third
// rendition is dropped. Sequence numbers are per rendition: a consumer that needs one run of them
// renumbers at the change of Unit.Rendition.
func (r *Reader) Switch(name string) error {
	t, err := r.s.rendition(name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed || t == r.next {
		r.mu.Unlock()
		return nil
	}
	if r.next != nil {
		r.next.release()
		r.next = nil
	}
	if t == r.cur {
		r.mu.Unlock()
		return nil
	}
	r.next = t
	t.acquire() // a gated rendition starts encoding, with a key frame
	r.mu.Unlock()
	t.requestKeyFrame()
	return nil
}

// RequestKeyFrame asks the encoder of the reader's rendition for a key frame
// (rate-limited as Stream.RequestKeyFrame).
func (r *Reader) RequestKeyFrame() {
	r.mu.Lock()
	t := r.cur
	if r.next != nil {
		t = r.next
	}
	r.mu.Unlock()
	t.requestKeyFrame()
}

// Report is the Sender Report of the reader's rendition (video) or of the audio
// track (Stream.Report).
func (r *Reader) Report(video bool) (Report, bool) {
	name := ""
	if video {
		name = r.Rendition()
	}
	return r.s.Report(video, name)
}

// Close ends delivery and waits for f to return; idempotent.
func (r *Reader) Close() {
	r.once.Do(func() {
		s := r.s
		s.mu.Lock()
		old := *s.readers.Load()
		rs := make([]*Reader, 0, len(old))
		for _, x := range old {
			if x != r {
				rs = append(rs, x)
			}
		}
		s.readers.Store(&rs)
		s.mu.Unlock()
		r.mu.Lock()
		r.closed = true
		r.cur.release()
		if r.next != nil {
			r.next.release()
		}
		r.mu.Unlock()
		close(r.stop)
		<-r.done
	})
}
