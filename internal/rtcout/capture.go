package rtcout

import (
	"slices"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/stream"
)

// AbsCaptureTimeURI is the abs-capture-time RTP header extension
// (http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time): a packet's
// capture time as a 64-bit NTP timestamp on the sender's NTP clock, optionally
// followed by the capture clock's estimated offset from that clock. avhost's NTP
// clock is the Sender Report timeline (stream.Stream.WallTime), and the capture
// time of a unit is its place on that timeline: the time its frame or audio chunk
// was due, not when the encoder finished. A receiver adds its own estimate of the
// sender's clock offset (from RTCP) and gets capture → display in its own clock;
// Chrome exposes it as requestVideoFrameCallback's captureTime.
const AbsCaptureTimeURI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"

// captureStamp writes abs-capture-time on one track's packets, with the id that
// track's negotiation gave it; the zero value (the viewer's offer lacked the
// extension) writes nothing.
type captureStamp struct {
	id      uint8
	profile uint16 // one-byte header form for ids 1-14, else two-byte (RFC 8285 §4.2, §4.3)
}

// negotiatedCapture finds the id s's negotiation gave abs-capture-time. Each
// viewer negotiates its own ids (a browser numbers extensions as it likes), so the
// id is read from the viewer's own sender once its answer is set.
func negotiatedCapture(s *webrtc.RTPSender) captureStamp {
	for _, h := range s.GetParameters().HeaderExtensions {
		if h.URI != AbsCaptureTimeURI || h.ID < 1 || h.ID > 255 {
			continue
		}
		// An id over 14 needs the two-byte form, which a peer may mix with the
		// one-byte form only when it offered a=extmap-allow-mixed (RFC 8285 §6);
		// Chrome does, and numbers extensions it was asked to enable after its own.
		c := captureStamp{id: uint8(h.ID), profile: rtp.ExtensionProfileOneByte}
		if h.ID > 14 {
			c.profile = rtp.ExtensionProfileTwoByte
		}
		return c
	}
	return captureStamp{}
}

// payload is the extension's bytes for capture time at: the NTP timestamp and an
// estimated capture clock offset of zero (the capture clock is the NTP clock of the
// Sender Reports), 16 bytes. Made once per unit and shared by its packets.
func (c captureStamp) payload(at time.Time) []byte {
	if c.id == 0 || at.IsZero() {
		return nil
	}
	b, _ := rtp.NewAbsCaptureTimeExtensionWithCaptureClockOffset(at, 0).Marshal()
	return b
}

// stamp sets the extension on h, a copy of a shared packet's header: the shared
// packet's extension list is clipped first, so the append copies it rather than
// writing into memory other readers hold.
func (c captureStamp) stamp(h *rtp.Header, payload []byte) {
	if payload == nil {
		return
	}
	h.Extensions = slices.Clip(h.Extensions)
	if !h.Extension { // SetExtension alone would pick the one-byte form for 16 bytes
		h.Extension, h.ExtensionProfile = true, c.profile
	}
	// Cannot fail: the profile fits the id, and 16 bytes fit either form.
	h.SetExtensionWithProfile(c.id, payload, c.profile)
}

// writeAudio writes an audio unit's packets to t, each stamped with the unit's
// capture time (an Opus unit is one packet; the loop is for form's sake).
func (c captureStamp) writeAudio(t *webrtc.TrackLocalStaticRTP, u *stream.Unit) {
	ext := c.payload(u.NTP)
	for _, p := range u.Packets {
		if ext == nil {
			t.WriteRTP(p) // WriteRTP copies before setting SSRC and payload type
			continue
		}
		h := p.Header
		c.stamp(&h, ext)
		t.WriteRTP(&rtp.Packet{Header: h, Payload: p.Payload})
	}
}
