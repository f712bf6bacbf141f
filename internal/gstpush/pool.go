package gstpush

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>
#include <string.h>
#include <sys/mman.h>

// A frame pool of one size whose memory is mapped by the pool itself: a region freed
// with munmap is back with the kernel at once. malloc (GStreamer's sysmem, a
// GstBufferPool) kept frame-sized holes in its arenas after a burst, for good: glibc
// raises its mmap threshold past a frame after the first free.
//
// Released regions stay on a free list, mapped and faulted in, for the next frames.
// Past keep of them, the surplus is unmapped once it has sat unused for linger µs:
// a burst of frames queued seconds ahead reuses warm memory while bursts keep
// coming, and returns it when the session goes quiet.
typedef struct fpool fpool;

typedef struct {
	fpool *pool;
	void *addr;
} region;

struct fpool {
	GMutex lock;
	gsize size;
	guint keep;
	gint64 linger;
	GPtrArray *free;   // region*, most recently released last
	guint out;         // regions held by buffers
	gint64 surplus_at; // when free first exceeded keep, 0 if it does not
	gboolean closed;   // the owner is done: unmap everything as it comes back
};

static fpool *fpool_new(gsize size, guint keep, gint64 linger) {
	fpool *p = g_new0(fpool, 1);
	g_mutex_init(&p->lock);
	p->size = size;
	p->keep = keep;
	p->linger = linger;
	p->free = g_ptr_array_new();
	return p;
}

static void region_unmap(region *r) {
	munmap(r->addr, r->pool->size);
	g_free(r);
}

// fpool_destroy frees p once it is closed and no buffer holds a region. Under lock.
static gboolean fpool_done(fpool *p) { return p->closed && p->out == 0; }

static void fpool_destroy(fpool *p) {
	g_ptr_array_free(p->free, TRUE);
	g_mutex_clear(&p->lock);
	g_free(p);
}

// fpool_trim_locked unmaps the free regions past keep once they have lingered.
static void fpool_trim_locked(fpool *p, gint64 now) {
	if (p->free->len <= p->keep) {
		p->surplus_at = 0;
		return;
	}
	if (p->surplus_at == 0) {
		p->surplus_at = now;
		return;
	}
	if (now - p->surplus_at < p->linger) return;
	while (p->free->len > p->keep) region_unmap(g_ptr_array_steal_index(p->free, 0));
	p->surplus_at = 0;
}

static void fpool_trim(fpool *p) {
	g_mutex_lock(&p->lock);
	fpool_trim_locked(p, g_get_monotonic_time());
	g_mutex_unlock(&p->lock);
}

// region_release is the buffer memory's destroy notify: on whatever thread drops
// the last reference.
static void region_release(gpointer data) {
	region *r = data;
	fpool *p = r->pool;
	g_mutex_lock(&p->lock);
	p->out--;
	if (p->closed) {
		region_unmap(r);
		gboolean done = fpool_done(p);
		g_mutex_unlock(&p->lock);
		if (done) fpool_destroy(p);
		return;
	}
	g_ptr_array_add(p->free, r);
	fpool_trim_locked(p, g_get_monotonic_time());
	g_mutex_unlock(&p->lock);
}

// fpool_filled copies data into a region (a free one, else a new mapping) and wraps
// it in a buffer. NULL if mapping fails.
static GstBuffer *fpool_filled(fpool *p, const void *data) {
	region *r = NULL;
	g_mutex_lock(&p->lock);
	if (p->free->len > 0) r = g_ptr_array_steal_index(p->free, p->free->len - 1);
	if (p->free->len <= p->keep) p->surplus_at = 0;
	p->out++;
	g_mutex_unlock(&p->lock);
	if (r == NULL) {
		// MAP_POPULATE faults the pages in with one call rather than one trap each.
		void *a = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (a == MAP_FAILED) {
			g_mutex_lock(&p->lock);
			p->out--;
			g_mutex_unlock(&p->lock);
			return NULL;
		}
		r = g_new(region, 1);
		r->pool = p;
		r->addr = a;
	}
	memcpy(r->addr, data, p->size);
	return gst_buffer_new_wrapped_full(0, r->addr, p->size, 0, p->size, r, region_release);
}

// fpool_close unmaps the free regions; held ones go when released.
static void fpool_close(fpool *p) {
	g_mutex_lock(&p->lock);
	p->closed = TRUE;
	while (p->free->len > 0) region_unmap(g_ptr_array_steal_index(p->free, 0));
	gboolean done = fpool_done(p);
	g_mutex_unlock(&p->lock);
	if (done) fpool_destroy(p);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"
)

// PoolBytes is about what a Pool keeps for reuse when quiet (PoolBuffers).
const PoolBytes = 4 << 20

// PoolLinger is how long frame memory past PoolBuffers stays mapped unused before it
// goes back to the system: longer than the gap between a talking avatar's
// utterances, so back-to-back utterances reuse warm memory.
const PoolLinger = 5 * time.Second

// PoolBuffers is how many frame buffers of size bytes a quiet Pool keeps: at least 3
// (one shown, one being filled, one in the encoder), more while they fit in
// PoolBytes. An unbounded pool kept every buffer a burst ever needed: 56 MiB per
// 512×512 session after one 3 s utterance of the demo avatar.
func PoolBuffers(size int) int { return max(3, PoolBytes/max(size, 1)) }

// Pool recycles frame memory of one size.
type Pool struct {
	p    *C.fpool
	size int
}

// NewPool returns a pool of size-byte buffers; Free it when done.
func NewPool(size int) (*Pool, error) { return newPool(size, PoolLinger) }

func newPool(size int, linger time.Duration) (*Pool, error) {
	if size <= 0 {
		return nil, errors.New("gstpush: pool of empty frames")
	}
	return &Pool{p: C.fpool_new(C.gsize(size), C.guint(PoolBuffers(size)), C.gint64(linger.Microseconds())), size: size}, nil
}

// Free gives the pool's free memory back; buffers still held are unmapped when
// released. After Free, Trim does nothing and Held fails. Not concurrent with them.
func (p *Pool) Free() {
	if p.p != nil {
		C.fpool_close(p.p)
		p.p = nil
	}
}

// Trim gives back the memory past PoolBuffers that has lingered unused for
// PoolLinger. Releasing a buffer trims too; a source calls Trim as it goes, so a
// pool that nothing is released to any more still shrinks.
func (p *Pool) Trim() {
	if p.p != nil {
		C.fpool_trim(p.p)
	}
}

// Held copies data (exactly the pool's size) into a pooled buffer: the one copy a
// frame gets, into memory that is already mapped unless a burst needs more.
func (p *Pool) Held(data []byte) (*Held, error) {
	if len(data) != p.size {
		return nil, fmt.Errorf("gstpush: %d bytes for a pool of %d", len(data), p.size)
	}
	if p.p == nil {
		return nil, errors.New("gstpush: pool freed")
	}
	b := C.fpool_filled(p.p, unsafe.Pointer(&data[0]))
	if b == nil {
		return nil, errors.New("gstpush: frame memory mapping failed")
	}
	return &Held{b: b}, nil
}
