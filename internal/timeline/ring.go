package timeline

// ring is a fixed-capacity FIFO of samples that never allocates after construction.
type ring struct {
	buf        []int16
	head, size int
}

func newRing(n int) ring { return ring{buf: make([]int16, n)} }

func (r *ring) cap() int  { return len(r.buf) }
func (r *ring) len() int  { return r.size }
func (r *ring) free() int { return len(r.buf) - r.size }

func (r *ring) push(s []int16) {
	tail := (r.head + r.size) % len(r.buf)
	n := copy(r.buf[tail:], s)
	copy(r.buf, s[n:])
	r.size += len(s)
}

// pop moves up to len(dst) samples into dst and returns how many.
func (r *ring) pop(dst []int16) int {
	want := min(len(dst), r.size)
	n := copy(dst[:want], r.buf[r.head:])
	copy(dst[n:want], r.buf)
	r.head = (r.head + want) % len(r.buf)
	r.size -= want
	return want
}

// truncate keeps only the first n samples.
func (r *ring) truncate(n int) {
	if n < r.size {
		r.size = n
	}
}
