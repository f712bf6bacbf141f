// Package record records a session live: a subscriber of the session's stream (the
// encode viewers get, so no second encode) that writes MPEG-TS segments to disk,
// rotated on time at key frames, named by session and UTC start, audio and video on
// the one running-time origin, playable after a kill -9 (segment.go). The disk it may
// fill is capped per session: the oldest segments go first. docs/recording.md.
package record

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avhost/avhost/internal/stream"
)

// Bounds and defaults of Config.
const (
	MinSegment      = time.Second
	MaxSegment      = time.Hour
	DefaultSegment  = time.Minute
	DefaultMaxBytes = 1 << 30
	// MinMaxBytes keeps a cap from deleting segments as fast as they are written.
	MinMaxBytes = 4 << 20
	// DefaultQueue is the reader's queue: 256 units are ≈3.4 s of 25 fps video with
	// 20 ms Opus, room for a slow disk before units drop.
	DefaultQueue = 256
)

// Config is one recording. Zero fields take the defaults named.
type Config struct {
	// Dir holds the recordings, one directory per session; created if missing.
	// Required: it comes from the host's configuration, never from a request.
	Dir string
	// Session names the directory and the files (CheckName).
	Session string
	// Segment is a segment's length; a segment ends at the first key frame at or
	// after it, which the recorder asks the encoder for. Defaults to DefaultSegment;
	// MinSegment to MaxSegment.
	Segment time.Duration
	// MaxBytes caps the bytes of the session's segments in its directory (earlier
	// recordings' included): past it the oldest closed segments are deleted. A
	// segment also ends early at MaxBytes/4, so that there is always one to delete.
	// Defaults to DefaultMaxBytes; at least MinMaxBytes.
	MaxBytes int64
	// Channels of the Opus track, the session's; defaults to 1.
	Channels int
	// Queue bounds the units waiting for the disk (at least a batch's, 100 ms);
	// defaults to DefaultQueue.
	Queue int
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Status is what a recording has done, for the API (it names files relative to the
// recording directory, never an absolute path).
type Status struct {
	Session string `json:"session"`
	// SegmentSeconds is the segment length in force.
	SegmentSeconds float64   `json:"segment_seconds"`
	Started        time.Time `json:"started"`
	// Current is the segment being written; "" before the first key frame and after
	// the end.
	Current string `json:"current"`
	// Segments counts the segments begun, Bytes what was written to all of them,
	// Deleted the segments the byte cap removed.
	Segments int   `json:"segments"`
	Bytes    int64 `json:"bytes"`
	Deleted  int   `json:"deleted"`
	// Drops counts units lost because the disk fell behind (the reader's queue was
	// full), and video units skipped after such a loss until the next key frame.
	Drops uint64 `json:"drops"`
	// Error is the write error that ended the recording, if one did.
	Error   string `json:"error,omitempty"`
	Stopped bool   `json:"stopped"`
}

// tsBase is where the recording's timeline starts in the files: one second in, so
// that PCR (a little before the first DTS) and audio that precedes the first key frame
// by a few milliseconds stay positive.
const tsBase = time.Second

// batch is how often the recorder takes what the stream has queued for it. Taking
// units as they come (Subscribe) costs a goroutine wakeup per unit, 75 a second,
// which measured +1–2 % of a core on a 5–9 % session: more than the muxing and the
// writes. A kill -9 loses at most a batch more.
const batch = 100 * time.Millisecond

// askEvery spaces the recorder's key-frame requests (the stream rate-limits them to
// one per 500 ms per rendition, shared with viewers' PLIs).
const askEvery = 600 * time.Millisecond

// Recorder is one session's live recording.
type Recorder struct {
	cfg    Config
	s      *stream.Stream
	root   *os.Root
	reader atomic.Pointer[stream.Reader]
	log    *slog.Logger
	once   sync.Once

	// Owned by the reader's goroutine (handle), and by Close once the reader is closed.
	seg       *segment
	origin    time.Duration // running time of the first key frame: the files' tsBase
	asked     bool
	lastAsk   time.Duration
	dropsSeen uint64
	failed    bool

	mu sync.Mutex // guards st
	st Status
}

// Start checks cfg and starts recording s. It asks for a key frame: the first
// segment starts on one.
func Start(s *stream.Stream, cfg Config) (*Recorder, error) {
	if err := CheckName(cfg.Session); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrConfig)
	}
	if cfg.Segment == 0 {
		cfg.Segment = DefaultSegment
	}
	if cfg.Segment < MinSegment || cfg.Segment > MaxSegment {
		return nil, fmt.Errorf("%w: segment %v is outside %v…%v", ErrConfig, cfg.Segment, MinSegment, MaxSegment)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxBytes < MinMaxBytes {
		return nil, fmt.Errorf("%w: max_bytes %d is below %d", ErrConfig, cfg.MaxBytes, MinMaxBytes)
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 1
	}
	if cfg.Queue < 32 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	// Every file operation below goes through root: no name can leave cfg.Dir, not
	// even through a symbolic link planted in it.
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := root.Mkdir(cfg.Session, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		root.Close()
		return nil, fmt.Errorf("record: %w", err)
	}
	rec := &Recorder{cfg: cfg, s: s, root: root, log: cfg.Log.With("recording", cfg.Session),
		st: Status{Session: cfg.Session, SegmentSeconds: cfg.Segment.Seconds(), Started: time.Now().UTC()}}
	r, err := s.SubscribeEvery("", cfg.Queue, batch, rec.handle)
	if err != nil {
		root.Close()
		return nil, err
	}
	rec.reader.Store(r)
	s.RequestKeyFrame("")
	rec.log.Info("recording", "segment", cfg.Segment, "max_bytes", cfg.MaxBytes)
	return rec, nil
}

// handle writes one unit; it runs on the reader's goroutine, so a slow disk fills
// the reader's queue (which then drops and counts) and never stalls the stream.
func (rec *Recorder) handle(u *stream.Unit) {
	if rec.failed {
		return
	}
	sg := rec.seg
	due := sg == nil || u.RT-sg.startRT >= rec.cfg.Segment || sg.n >= rec.cfg.MaxBytes/4
	if due && u.Video && u.Key {
		if err := rec.rotate(u); err != nil {
			rec.fail(err)
			return
		}
		sg, due = rec.seg, false
	}
	if due && u.Video && (!rec.asked || u.RT-rec.lastAsk >= askEvery) {
		// Rotation waits for a key frame: ask for one rather than wait for the GOP's.
		rec.s.RequestKeyFrame("")
		rec.asked, rec.lastAsk = true, u.RT
	}
	if sg == nil {
		return // before the first key frame: nothing would decode
	}
	pts := u.RT - rec.origin + tsBase
	if pts < 0 {
		return // audio from over a second before the first key frame: no place in the files
	}
	before := sg.n
	var err error
	if u.Video {
		err = sg.writeVideo(u.AU, ticks(pts))
	} else {
		err = sg.writeAudio(u.AU, ticks(pts))
	}
	rec.mu.Lock()
	rec.st.Bytes += sg.n - before
	rec.mu.Unlock()
	if err != nil {
		rec.fail(err)
	}
}

// ticks is d on MPEG-TS's 90 kHz clock (ISO/IEC 13818-1 §2.4.3.7).
func ticks(d time.Duration) int64 { return int64(d) * 9 / 100_000 }

// rotate closes the current segment and opens the next at key frame u.
func (rec *Recorder) rotate(u *stream.Unit) error {
	if rec.seg == nil {
		rec.origin = u.RT
	} else if err := rec.closeSegment(); err != nil {
		return err
	}
	sg, err := openSegment(rec.root, rec.cfg.Session, u.NTP, u.RT, rec.cfg.Channels)
	if err != nil {
		return err
	}
	rec.seg, rec.asked = sg, false
	rec.mu.Lock()
	rec.st.Current = sg.name
	rec.st.Segments++
	rec.mu.Unlock()
	rec.enforceCap()
	return nil
}

// closeSegment ends the current segment, and says what it held.
func (rec *Recorder) closeSegment() error {
	sg := rec.seg
	rec.seg = nil
	err := sg.close()
	rec.mu.Lock()
	rec.st.Current = ""
	rec.mu.Unlock()
	var drops uint64
	if r := rec.reader.Load(); r != nil {
		drops = r.Drops()
	}
	if drops > rec.dropsSeen {
		rec.log.Warn("recording: units dropped (the disk fell behind)", "file", sg.name, "dropped", drops-rec.dropsSeen)
		rec.dropsSeen = drops
	}
	rec.log.Info("recording: segment closed", "file", sg.name, "bytes", sg.n)
	return err
}

// fail ends the recording after a write error; the file so far stays playable.
func (rec *Recorder) fail(err error) {
	rec.failed = true
	if rec.seg != nil {
		rec.closeSegment()
	}
	rec.log.Error("recording stopped", "err", err)
	rec.mu.Lock()
	rec.st.Error = err.Error()
	rec.mu.Unlock()
}

// Status is what the recording has done so far.
func (rec *Recorder) Status() Status {
	rec.mu.Lock()
	st := rec.st
	rec.mu.Unlock()
	if r := rec.reader.Load(); r != nil {
		st.Drops = r.Drops()
	}
	return st
}

// Close stops the recording and finishes the current segment; idempotent. It returns
// the final status.
func (rec *Recorder) Close() Status {
	rec.once.Do(func() {
		if r := rec.reader.Load(); r != nil {
			r.Close() // waits for handle: from here nothing else writes
		}
		if rec.seg != nil {
			if err := rec.closeSegment(); err != nil {
				rec.log.Error("recording: last segment", "err", err)
			}
		}
		rec.root.Close()
		rec.mu.Lock()
		rec.st.Stopped = true
		rec.mu.Unlock()
		rec.log.Info("recording stopped")
	})
	return rec.Status()
}
