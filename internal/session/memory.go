package session

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/avhost/avhost/internal/gstpush"
	"github.com/avhost/avhost/pipelines"
)

// What a session costs in RSS besides its queues, measured with
// TestMeasureSessionCost (4 sessions per process, idle frame, x264 encoding; Debian 12,
// GStreamer 1.22): 512×512 8 MiB, 1920×1080 39 MiB, 3840×2160 126 MiB each, about
// 4 MiB plus 15 bytes a pixel (x264's frames, about 4 MiB of the 512×512 figure;
// videoconvert's and singleframesrc's buffers). Frames queued ahead cost their raw
// size while they wait, and for gstpush.PoolLinger after a burst; then the frame pool
// keeps gstpush.PoolBuffers of them (4 MiB at 512×512), so a 512×512 session that
// has spoken idles at 12 MiB (BenchmarkSessions: about 18 MiB with the demo avatar's
// 7 MiB of drawn faces). It was 70 MiB when the pool kept every frame of the longest
// burst for good. The base is rounded up for what the measurement leaves out: the
// outputs' buffers (Pion, RTSP, appsinks) and a frame being decoded.
const (
	baseCost     = 16 << 20
	costPerPixel = 16
)

// Cost estimates the memory a session of c takes at its worst: the measured base and
// per-pixel encoder cost (the ladder's lower encoders too when it is on, all of them
// running), plus its frame and audio queues full to their caps.
func Cost(c Config) (int64, error) {
	if err := c.fill(); err != nil {
		return 0, err
	}
	return c.cost(), nil
}

func (c Config) cost() int64 {
	p := c.p
	fb := p.frameBytes()
	// The queue full, the frame on screen and one in the converter beside it (1080p
	// measured 279 MiB of frames with 43 queued); never less than the pool keeps.
	frames := int64(max(p.MaxFrames+2, gstpush.PoolBuffers(fb))) * int64(fb)
	audio := p.MaxQueueMS * int64(p.Rate) / 1000 * int64(p.Channels) * 2 // int16 ring, allocated up front
	enc := costPerPixel * int64(p.Width*p.Height)
	if p.Ladder {
		// The lower renditions' encoders (x264's frames, per pixel as the top one)
		// and the queued raw frame in front of each scaler (2 each, full size).
		enc += costPerPixel*int64(p.ladderPixels()) + int64(2*(len(pipelines.Ladder)-1)*fb)
	}
	return baseCost + enc + frames + audio
}

// DefaultMemoryBudget is 3/4 of the memory this process may use: the smaller of the
// host's MemTotal and its cgroup's memory.max. The quarter left is for the process
// itself (Go runtime, WebRTC viewers' buffers, HTTP) and the system. Without either
// figure it is 4 GiB.
func DefaultMemoryBudget() int64 {
	total := memTotal()
	if lim := cgroupLimit(); lim > 0 && (total == 0 || lim < total) {
		total = lim
	}
	if total == 0 {
		return 4 << 30
	}
	return total / 4 * 3
}

// memTotal is /proc/meminfo's MemTotal in bytes, or 0.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit is the memory limit of this process's cgroup, or 0 when there is none:
// cgroup v2's memory.max ("0::/path" in /proc/self/cgroup), else v1's
// memory.limit_in_bytes ("N:memory:/path"). An unlimited v1 group reports a huge
// figure, which the caller's min with MemTotal ignores.
func cgroupLimit() int64 {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(cg), "\n") {
		if path, ok := strings.CutPrefix(l, "0::"); ok {
			if n := readInt(filepath.Join("/sys/fs/cgroup", path, "memory.max")); n > 0 {
				return n
			}
		}
		if _, path, ok := strings.Cut(l, ":memory:"); ok {
			if n := readInt(filepath.Join("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes")); n > 0 {
				return n
			}
		}
	}
	return 0
}

// readInt reads a file holding one decimal number; 0 if it does not ("max").
func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
