// Package webrtctest is a headless Pion viewer for tests and benchmarks: it joins a
// session by WHEP and counts what arrives.
package webrtctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// Receiver is one viewer.
type Receiver struct {
	PC       *webrtc.PeerConnection
	Location string

	VideoPackets atomic.Int64
	AudioPackets atomic.Int64
	tracks       sync.WaitGroup
	done         chan struct{}
	wg           sync.WaitGroup
}

// JoinWHEP offers recvonly audio+video to url (…/whep/{session}) and connects.
func JoinWHEP(ctx context.Context, url string) (*Receiver, error) {
	// Only what avhost sends: H.264 and Opus (webrtcbin 1.22 as answerer matches an
	// offer better without codecs it cannot send).
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	r := &Receiver{PC: pc, done: make(chan struct{})}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	r.tracks.Add(2)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		r.tracks.Done()
		n := &r.AudioPackets
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			n = &r.VideoPackets
		}
		r.wg.Add(1)
		defer r.wg.Done()
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
			n.Add(1)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader([]byte(pc.LocalDescription().SDP)))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pc.Close()
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, fmt.Errorf("WHEP POST: %d %s", resp.StatusCode, body)
	}
	r.Location = resp.Header.Get("Location")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return nil, err
	}
	return r, nil
}

// WaitTracks blocks until both tracks arrived or ctx ends.
func (r *Receiver) WaitTracks(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { r.tracks.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close leaves (PC close; the server sees it through ICE/DTLS) and waits for readers.
func (r *Receiver) Close() {
	r.PC.Close()
	r.wg.Wait()
}
