package timeline

// The idle clip: frames looped between utterances so the face never freezes.
//
// Its phase is a count of idle frames: the k-th frame the timeline emits outside an
// utterance shows clip frame k mod N. An utterance pauses the loop where it is and the
// first idle frame after its end (or an interrupt) shows the clip frame after the
// last one shown before it: the loop resumes where it stopped, never jumps back and
// never skips ahead. Resuming beats running the loop on during the utterance (which
// lands on an arbitrary phase, mid-blink say) and a crossfade (which blends two faces
// into a ghost and costs a blend per frame): the utterance's frames come from a model
// that starts and ends on the neutral pose the clip was cut around, so the frame
// before the utterance is the nearest picture to the one after it.

// SetIdleClip replaces the picture shown outside utterances with frames, looped at the
// frame rate from its first frame on. The timeline takes the frames over (it releases
// them when they are replaced); an empty clip is ignored.
func (v *Video[F]) SetIdleClip(frames []F) {
	if len(frames) == 0 {
		return
	}
	clip := append([]F(nil), frames...)
	v.mu.Lock()
	old := v.idle
	v.idle, v.loop = clip, 0
	v.mu.Unlock()
	for _, f := range old {
		v.cfg.Release(f)
	}
}

// IdleClipLen is the number of frames of the idle clip (1: a still frame).
func (v *Video[F]) IdleClipLen() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.idle)
}

// idleLocked returns the loop's next frame and its index in the clip, and moves the
// loop on by one. v.mu is held.
func (v *Video[F]) idleLocked() (F, int) {
	if len(v.idle) == 0 { // closed
		var zero F
		return zero, 0
	}
	k := int(v.loop % int64(len(v.idle)))
	v.loop++
	return v.idle[k], k
}
