package rtcout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// linkStats is what one viewer's RTCP says about its path: the round-trip time and
// each track's loss from its receiver reports (RFC 3550 §6.4.1), and the key frames
// it asked for. Everything a peer sends here is bounded by construction: a report
// block counts only if it names one of the viewer's own media SSRCs and, for the
// RTT, echoes one of the last few Sender Reports avhost sent it.
type linkStats struct {
	mu   sync.Mutex
	sent [8]srSent // the last Sender Reports sent, both tracks (a ring)
	next int

	rtt       atomic.Int64 // the latest round trip, µs (0: none yet)
	videoFrac atomic.Uint32
	audioFrac atomic.Uint32 // fraction lost in the last report interval, ×256
	videoLost atomic.Int64
	audioLost atomic.Int64 // cumulative packets lost, as the viewer counts them
	// videoSeen and audioSeen: a report on the track arrived (the figures above
	// are none until then, not 0).
	videoSeen, audioSeen atomic.Bool
	keyframeRq           atomic.Uint64
}

// srSent is one Sender Report: the middle 32 bits of its NTP timestamp, which a
// receiver echoes as LSR, and when it left.
type srSent struct {
	lsr uint32
	at  time.Time
}

// sentSR notes a Sender Report as it leaves.
func (l *linkStats) sentSR(ntp uint64, at time.Time) {
	l.mu.Lock()
	l.sent[l.next] = srSent{lsr: uint32(ntp >> 16), at: at}
	l.next = (l.next + 1) % len(l.sent)
	l.mu.Unlock()
}

// maxRTT bounds a round trip worth reporting: a longer one is a stale or forged echo.
const maxRTT = 10 * time.Second

// received takes one report block about the viewer's video or audio stream,
// arriving at now.
func (l *linkStats) received(b rtcp.ReceptionReport, video bool, now time.Time) {
	if video {
		l.videoFrac.Store(uint32(b.FractionLost))
		l.videoLost.Store(int64(b.TotalLost))
		l.videoSeen.Store(true)
	} else {
		l.audioFrac.Store(uint32(b.FractionLost))
		l.audioLost.Store(int64(b.TotalLost))
		l.audioSeen.Store(true)
	}
	if b.LastSenderReport == 0 {
		return // no SR received yet
	}
	l.mu.Lock()
	var at time.Time
	for _, s := range l.sent {
		if s.lsr == b.LastSenderReport && !s.at.IsZero() {
			at = s.at
		}
	}
	l.mu.Unlock()
	if at.IsZero() {
		return
	}
	// DLSR is in 1/65536 s: the time the report sat at the receiver.
	rtt := now.Sub(at) - time.Duration(b.Delay)*time.Second/65536
	if rtt < 0 || rtt > maxRTT {
		return
	}
	l.rtt.Store(max(rtt.Microseconds(), 1))
}

// loss is a track's fraction lost in the viewer's last report interval, and false
// before its first report.
func (l *linkStats) loss(video bool) (float64, bool) {
	if video {
		return float64(l.videoFrac.Load()) / 256, l.videoSeen.Load()
	}
	return float64(l.audioFrac.Load()) / 256, l.audioSeen.Load()
}

// RTT is the latest round trip, and false until one was measured.
func (l *linkStats) RTT() (time.Duration, bool) {
	us := l.rtt.Load()
	return time.Duration(us) * time.Microsecond, us > 0
}

// logArgs are the figures for the viewer's leaving log line.
func (l *linkStats) logArgs() []any {
	args := []any{"video_lost", l.videoLost.Load(), "audio_lost", l.audioLost.Load(),
		"keyframe_requests", l.keyframeRq.Load()}
	if rtt, ok := l.RTT(); ok {
		args = append(args, "rtt_ms", float64(rtt.Microseconds())/1000)
	}
	return args
}
