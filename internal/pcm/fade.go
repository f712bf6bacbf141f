package pcm

// FadeOut scales interleaved s16 linearly from full to zero over its length, so that a
// cut utterance ends without a click.
func FadeOut(s []int16, channels int) {
	n := len(s) / channels
	for i := 0; i < n; i++ {
		g := int32(n - i)
		for c := 0; c < channels; c++ {
			k := i*channels + c
			s[k] = int16(int32(s[k]) * g / int32(n))
		}
	}
}
