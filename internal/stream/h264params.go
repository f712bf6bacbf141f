package stream

import (
	"bytes"
	"sync"
)

// h264Params holds a video rendition's H.264 parameter sets (SPS, PPS). They belong
// to the stream, not to an access unit: they are copied out, so the few bytes kept do
// not hold a whole key frame in memory (issue 10, row 11, was the other hazard, now
// gone: an SPS aliased into a reused sink buffer became a slice in the SDP's
// sprop-parameter-sets).
type h264Params struct {
	mu       sync.Mutex
	sps, pps []byte        // copies; replaced, never modified in place
	known    chan struct{} // closed once both are set
}

func newH264Params() *h264Params { return &h264Params{known: make(chan struct{})} }

// update records the SPS and PPS found in access unit au (byte-stream), copying any
// that differ from the ones held. It reads NAL headers only up to the first slice,
// since parameter sets precede the slices of an access unit (H.264 §7.4.1.2.3).
func (p *h264Params) update(au []byte) {
	var sps, pps []byte
	for rest := au; ; {
		var nalu []byte
		nalu, rest = nextNALU(rest)
		if nalu == nil {
			break
		}
		t := nalu[0] & 0x1f
		if t == 7 {
			sps = nalu
		} else if t == 8 {
			pps = nalu
		} else if t >= 1 && t <= 5 {
			break
		}
	}
	if sps == nil && pps == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sps != nil && !bytes.Equal(sps, p.sps) {
		p.sps = bytes.Clone(sps)
	}
	if pps != nil && !bytes.Equal(pps, p.pps) {
		p.pps = bytes.Clone(pps)
	}
	if p.sps != nil && p.pps != nil {
		select {
		case <-p.known:
		default:
			close(p.known)
		}
	}
}

// nextNALU returns the first NAL unit of byte-stream b (without its start code and
// trailing zero bytes) and what follows it; nalu is nil when b holds no more.
func nextNALU(b []byte) (nalu, rest []byte) {
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			return nil, nil
		}
		b = b[i+3:]
		end := bytes.Index(b, []byte{0, 0, 1})
		if end < 0 {
			end = len(b)
		}
		if nalu = bytes.TrimRight(b[:end], "\x00"); len(nalu) > 0 {
			return nalu, b[end:]
		}
		b = b[end:]
	}
}
