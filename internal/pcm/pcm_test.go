package pcm

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func f32Bytes(f ...float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func TestDecode(t *testing.T) {
	mono := Format{Type: F32, Rate: 24000, Channels: 1}
	stereo16 := Format{Type: S16, Rate: 24000, Channels: 2}
	cases := []struct {
		name    string
		raw     []byte
		in      Format
		want    []int16
		err     error
		clipped uint64
	}{
		{"float in range scales symmetrically", f32Bytes(0, 0.5, -1, 1), mono, []int16{0, 16384, -32767, 32767}, nil, 0},
		{"float beyond ±1 clips instead of wrapping", f32Bytes(2, -2, 1.0001), mono, []int16{32767, -32767, 32767}, nil, 3},
		{"NaN rejects the whole slice", f32Bytes(0.1, float32(math.NaN())), mono, nil, ErrNonFinite, 0},
		{"a partial float is refused", []byte{1, 2, 3}, mono, nil, ErrPartialSample, 0},
		{"half a stereo frame is refused", []byte{1, 2}, stereo16, nil, ErrPartialSample, 0},
		{"s16 passes through", []byte{1, 0, 0xff, 0xff}, stereo16, []int16{1, -1}, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var st Stats
			got, err := Decode(nil, c.raw, c.in, &st)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if c.err != nil {
				if len(got) != 0 {
					t.Fatalf("rejected slice still produced %v", got)
				}
				return
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
			if st.Clipped != c.clipped {
				t.Fatalf("clipped %d, want %d", st.Clipped, c.clipped)
			}
		})
	}
}

func TestResamplerKeepsLengthAndJoinsSlicesWithoutASeam(t *testing.T) {
	for _, rates := range [][2]int{{48000, 24000}, {16000, 24000}, {44100, 24000}, {22050, 48000}} {
		in := make([]int16, rates[0]) // one second of a ramp
		for i := range in {
			in[i] = int16(i % 20000)
		}
		whole := NewResampler(rates[0], rates[1], 1).Process(nil, in)
		r := NewResampler(rates[0], rates[1], 1)
		var sliced []int16
		for pos := 0; pos < len(in); pos += 777 {
			sliced = r.Process(sliced, in[pos:min(pos+777, len(in))])
		}
		if d := len(whole) - rates[1]; d < -2 || d > 0 {
			t.Fatalf("%v: %d samples out of one second, want ~%d", rates, len(whole), rates[1])
		}
		if len(sliced) != len(whole) {
			t.Fatalf("%v: sliced %d samples, whole %d", rates, len(sliced), len(whole))
		}
		for i := range whole {
			if whole[i] != sliced[i] {
				t.Fatalf("%v: sample %d differs when fed in slices: %d vs %d", rates, i, sliced[i], whole[i])
			}
		}
	}
}

func TestRemixAndFade(t *testing.T) {
	if got := Remix([]int16{100, 300, -2, 2}, 2, 1); len(got) != 2 || got[0] != 200 || got[1] != 0 {
		t.Fatalf("stereo to mono: %v", got)
	}
	if got := Remix([]int16{5, 6}, 1, 2); len(got) != 4 || got[1] != 5 || got[2] != 6 {
		t.Fatalf("mono to stereo: %v", got)
	}
	s := []int16{1000, 1000, 1000, 1000}
	FadeOut(s, 1)
	if s[0] != 1000 || s[3] != 250 || !(s[1] > s[2]) {
		t.Fatalf("fade: %v", s)
	}
}
