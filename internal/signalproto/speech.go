package signalproto

// Speech events (server → viewer), over /ws and over the WebRTC data channel
// (DataChannelLabel). Each carries seq (the session's count of speech events, so a
// viewer that hears one over both paths keeps the first and sees their order),
// utterance, and rtp: the audio track's RTP timestamp of the audio it belongs to, so a
// page acts when that audio plays (RTCRtpReceiver.getSynchronizationSources()
// rtpTimestamp), not when the message arrives. rtp is absent where the stamps are not
// the track's (the webrtcbin backend). See docs/signaling.md, Speech events.
const (
	// TypeSpeakingStarted: the utterance's first sample is at rtp.
	TypeSpeakingStarted = "speaking_started"
	// TypeWord: word index of the utterance (text, start_ms, end_ms in its audio)
	// starts at rtp.
	TypeWord = "word"
	// TypeSpeakingFinished: the utterance's audio ends at rtp; played_ms is all of it.
	TypeSpeakingFinished = "speaking_finished"
	// TypeInterrupt (viewer → server, data channel only): barge-in. Only a viewer
	// created with the host token may interrupt (the credential of POST
	// /api/sessions/{id}/interrupt); anyone else's is ignored.
	TypeInterrupt = "interrupt"
)

// DataChannelLabel is the label of the data channel a viewer opens in its offer to
// get speech events (and send interrupt). A channel with another label is closed.
const DataChannelLabel = "avhost"

// MaxDataChannelMessage bounds what avhost reads from a viewer's data channel; a
// longer message is ignored.
const MaxDataChannelMessage = 1024
