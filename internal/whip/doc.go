// Package whip publishes a session to a WHIP endpoint (RFC 9725), e.g. an SFU that
// fans out: the HTTP side (target checks, the dialer's address guard, the POST and
// DELETE, retries with backoff, a status that repeats nothing the endpoint wrote).
// The WebRTC side is a Peer the caller makes (internal/rtcout, with Pion), so this
// package imports no WebRTC stack.
package whip
