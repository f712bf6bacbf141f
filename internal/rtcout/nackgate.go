package rtcout

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// nackGate decides which of a viewer's NACKed video packets (RFC 4585 §6.2.1) the
// NACK responder may resend, so that repair can never become a storm on a narrow
// link: measured before it, a viewer that lost a burst at a bottleneck kept NACKing
// it, and the resends (Pion budgets them at the whole estimate, on top of the
// media) kept the link losing for 12 s after the viewer had moved to a rung that
// fit. A NACKed packet is resent only if
//
//   - it is media: padding (a probe's) is never worth resending;
//   - it was sent less than maxNackAge ago: an older one would reach the browser
//     after its frame's playout, and a PLI mends that loss better;
//   - the viewer's retransmission budget has room: resendShare of its estimate,
//     a token bucket holding at most resendBurst of it;
//   - it was resent fewer than maxResends times: Pion's responder spaces the
//     resends of a packet by the RTT it measured from receiver reports, which a
//     viewer that sends none keeps at 0 (5 ms apart), and a viewer without a
//     transport-wide CC estimate has no budget either: measured, one that NACKed
//     the last 200 packets every 10 ms got 41× the video's bytes back as RTX.
//
// A media packet it refuses that was sent since the viewer's last key frame leaves
// the picture broken until the next one: it asks for one at once (lost; the
// stream rate-limits requests per rendition). A browser does not: Chrome asks
// (PLI) only after some seconds without a decodable frame, so measured under a
// 600 kbit/s bottleneck, the key frame of a switch down that lost packets in the
// queue the rung above had filled froze the picture until the periodic key frame
// 2 s later.
//
// It is an interceptor placed before (inside) the NACK responder: it trims the
// NACKs in the parsed RTCP that interceptor.Attributes hands on, which is what the
// responder reads (Attributes.GetRTCPPackets parses once per compound packet).
type nackGate struct {
	interceptor.NoOp

	mu     sync.Mutex
	sent   [sentRing]sentPacket // by sequence number mod sentRing
	tokens float64              // bytes
	last   time.Time
	est    func() int // the viewer's estimate (bit/s); nil: no budget known
	keyAt  int64      // unix ns the last key frame's first packet was sent
	lost   func()     // asks for a key frame; nil: none asked

	nacked, refused atomic.Uint64 // sequence numbers asked for; those not resent
	refusedBy       [nRefusals]atomic.Uint64
	resent          atomic.Uint64 // bytes let through (an upper bound of the resends)
	keys            atomic.Uint64 // key frames asked for in place of a refused resend
}

const (
	// sentRing covers maxNackAge at any rung: 1024 packets are 0.6 s of 1.5 Mbit/s
	// video in 1200-byte packets, or of a probe's padding.
	sentRing    = 1024
	maxNackAge  = 400 * time.Millisecond
	resendShare = 0.2
	resendBurst = 250 * time.Millisecond
	// maxResends allows one retry when a resend is lost too (2 % of them at 2 %
	// loss); a PLI mends the rarer rest.
	maxResends = 2
)

// refusal is why a NACKed sequence number was not resent (metrics, the viewer's
// log line): an operator tells a budget too tight from losses too old to mend.
type refusal int

const (
	notMedia     refusal = iota // padding, or a number not sent (or no longer in the ring)
	tooOld                      // sent more than maxNackAge ago
	resentEnough                // resent maxResends times already
	overBudget                  // the viewer's retransmission budget had no room
	nRefusals
)

// RefusalNames name the refusals, in order (NetStats.RefusedBy's keys).
var RefusalNames = [nRefusals]string{"not_media", "too_old", "resent_enough", "over_budget"}

type sentPacket struct {
	seq     uint16
	padding bool
	resends uint8
	size    int32
	at      int64 // unix ns; 0: never sent
}

// NewInterceptor is the gate itself: one per viewer (interceptor.Factory).
func (g *nackGate) NewInterceptor(string) (interceptor.Interceptor, error) { return g, nil }

// setEstimate hands the gate the viewer's estimator.
func (g *nackGate) setEstimate(f func() int) {
	g.mu.Lock()
	g.est = f
	g.mu.Unlock()
}

// setLost hands the gate what asks for a key frame for the viewer.
func (g *nackGate) setLost(f func()) {
	g.mu.Lock()
	g.lost = f
	g.mu.Unlock()
}

// record notes a video packet as the viewer's writer sends it; key marks a key
// frame's first packet.
func (g *nackGate) record(seq uint16, size int, padding, key bool, now time.Time) {
	g.mu.Lock()
	g.sent[seq%sentRing] = sentPacket{seq: seq, padding: padding, size: int32(size), at: now.UnixNano()}
	if key {
		g.keyAt = now.UnixNano()
	}
	g.mu.Unlock()
}

// BindRTCPReader trims the NACKs of each RTCP packet read to what may be resent.
func (g *nackGate) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return parsedRTCP(r, func(pkts []rtcp.Packet) {
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				g.trim(nack, time.Now())
			}
		}
	})
}

// parsedRTCP is r with each compound packet read handed to each as parsed RTCP.
// The packets are parsed once and cached in the read's Attributes
// (Attributes.GetRTCPPackets), where the interceptors further out (the NACK
// responder, GCC) read them: what each changes in them, they see.
func parsedRTCP(r interceptor.RTCPReader, each func([]rtcp.Packet)) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		pkts, err := attr.GetRTCPPackets(b[:n])
		if err != nil {
			return n, attr, err
		}
		each(pkts)
		return n, attr, nil
	})
}

// trim rewrites nack's pairs to the sequence numbers that may be resent.
func (g *nackGate) trim(nack *rtcp.TransportLayerNack, now time.Time) {
	var keep []uint16
	var asked uint64
	var why [nRefusals]uint64
	broken := false // a packet since the last key frame is refused
	g.mu.Lock()
	if g.est != nil {
		// bytes per second; a bucket starts full, so the first loss is mended too
		rate := resendShare * float64(g.est()) / 8
		if g.last.IsZero() {
			g.tokens = rate * resendBurst.Seconds()
		} else {
			g.tokens = min(g.tokens+rate*now.Sub(g.last).Seconds(), rate*resendBurst.Seconds())
		}
		g.last = now
	}
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			asked++
			s := &g.sent[seq%sentRing]
			if s.at == 0 || s.seq != seq || s.padding {
				why[notMedia]++
				return true
			}
			if s.resends >= maxResends {
				// Lost again: the viewer would keep asking until its own timeout
				// asks for a key frame (a 1.9 s freeze at 5 % loss).
				why[resentEnough]++
				broken = broken || s.at >= g.keyAt
				return true
			}
			if now.Sub(time.Unix(0, s.at)) > maxNackAge {
				why[tooOld]++
				broken = broken || s.at >= g.keyAt
				return true
			}
			if g.est != nil {
				if g.tokens < float64(s.size) {
					why[overBudget]++
					broken = broken || s.at >= g.keyAt
					return true
				}
				g.tokens -= float64(s.size)
			}
			s.resends++
			keep = append(keep, seq)
			g.resent.Add(uint64(s.size))
			return true
		})
	}
	lost := g.lost
	g.mu.Unlock()
	if broken && lost != nil {
		g.keys.Add(1)
		lost()
	}
	g.nacked.Add(asked)
	g.refused.Add(asked - uint64(len(keep)))
	for i, n := range why {
		g.refusedBy[i].Add(n)
	}
	nack.Nacks = rtcp.NackPairsFromSequenceNumbers(keep)
}
