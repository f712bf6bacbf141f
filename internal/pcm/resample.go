package pcm

// Resampler converts interleaved s16 between rates by linear interpolation, keeping its
// phase across calls so that slices of any length join without a seam. Linear
// interpolation is enough for speech at 16-48 kHz; callers that need better quality
// (files) resample with GStreamer's audioresample before handing PCM over.
type Resampler struct {
	in, out  int
	channels int
	pos      int64   // position of the next output frame, in units of 1/out input frames
	last     []int16 // last input frame of the previous call
	have     bool
}

// NewResampler returns a resampler from rate in to rate out.
func NewResampler(in, out, channels int) *Resampler {
	return &Resampler{in: in, out: out, channels: channels, last: make([]int16, channels)}
}

// Process appends the resampled form of src to dst.
func (r *Resampler) Process(dst, src []int16) []int16 {
	if r.in == r.out {
		return append(dst, src...)
	}
	ch := r.channels
	n := int64(len(src) / ch)
	// Input frame index -1 is r.last (when we have one); input x lives at x*out in pos units.
	at := func(i int64, c int) int32 {
		if i < 0 {
			return int32(r.last[c])
		}
		return int32(src[int(i)*ch+c])
	}
	first := int64(0)
	if r.have {
		first = -1
	}
	for {
		// pos is relative to the start of src (input frame 0 at 0).
		i := floorDiv(r.pos, int64(r.out))
		if i+1 >= n || i < first {
			break
		}
		frac := r.pos - i*int64(r.out)
		for c := 0; c < ch; c++ {
			a, b := at(i, c), at(i+1, c)
			dst = append(dst, int16(a+int32((int64(b-a)*frac)/int64(r.out))))
		}
		r.pos += int64(r.in)
	}
	if n > 0 {
		copy(r.last, src[(n-1)*int64(ch):n*int64(ch)])
		r.have = true
		// Re-base so the last input frame becomes index -1.
		r.pos -= n * int64(r.out)
	}
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
