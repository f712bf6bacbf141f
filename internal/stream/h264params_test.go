package stream

import (
	"bytes"
	"testing"
)

func TestParameterSetsAreCopiedOutOfTheAccessUnit(t *testing.T) {
	au := []byte{0, 0, 0, 1, 0x09, 0xf0, // AUD
		0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, // SPS
		0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, // PPS, trailing zero
		0, 0, 0, 1, 0x65, 0x88, 0x84} // IDR slice
	p := newH264Params()
	p.update(au)
	for i := range au { // the appsink reuses its buffer for the next sample
		au[i] = 0x41
	}
	select {
	case <-p.known:
	default:
		t.Fatal("both parameter sets seen but not known")
	}
	if !bytes.Equal(p.sps, []byte{0x67, 0x42, 0xc0, 0x1e}) || !bytes.Equal(p.pps, []byte{0x68, 0xce, 0x3c, 0x80}) {
		t.Fatalf("sps %x pps %x", p.sps, p.pps)
	}
	p.update([]byte{0, 0, 1, 0x65, 0, 0, 1, 0x67, 0x64}) // an SPS after a slice is not this AU's
	if p.sps[0] != 0x67 || p.sps[1] != 0x42 {
		t.Fatalf("sps %x after a slice-first access unit", p.sps)
	}
	p.update([]byte{0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0, 0, 1, 0x65}) // the encoder changed profile
	if !bytes.Equal(p.sps, []byte{0x67, 0x64, 0x00, 0x1f}) {
		t.Fatalf("sps %x after a change", p.sps)
	}
}
