package ingestproto

// The idle clip (docs/ingest.md, Idle clip): a text message announces N frames, N
// binary messages carry them, and the server answers once the clip shows.
const (
	// TypeIdleClip (client → server) begins the upload of an idle clip of Frames
	// frames, replacing one still uploading.
	TypeIdleClip = "idle_clip"
	// TypeIdleClipShown (server → client): every frame of the clip is in and it loops
	// from the next idle frame on; Frames is its frame count.
	TypeIdleClipShown = "idle_clip_shown"
	// KindIdleClip is frame Index of the idle clip being uploaded, in the session's
	// format; the utterance field is 0.
	KindIdleClip byte = 4
)
