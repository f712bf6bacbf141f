package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/rtcout"
)

// captureReceiver is a Pion viewer that offers abs-capture-time, after `pad` other
// header extensions so that its id differs from viewer to viewer, and hands every
// packet that carries it to got, with the id its own negotiation gave the extension.
// With id set, the offer avhost gets numbers the extension id instead: Pion offers
// ids 1-14 only, and a browser may number it past 14 (the two-byte form).
type captureReceiver struct {
	pc  *webrtc.PeerConnection
	loc string
}

type capturedPacket struct {
	video   bool
	rtpTime uint32
	capture time.Time
	offset  *time.Duration
}

func joinCapture(ctx context.Context, t *testing.T, url string, pad, id int, got chan<- capturedPacket) *captureReceiver {
	t.Helper()
	m := &webrtc.MediaEngine{}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}, webrtc.RTPCodecTypeVideo))
	must(m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio))
	// Extensions avhost does not know take the first ids, so avhost must answer with
	// this viewer's numbering, not a fixed one.
	for i := 0; i < pad; i++ {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			must(m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: fmt.Sprintf("urn:avhost:test:unused-%d", i)}, k))
		}
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		must(m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: rtcout.AbsCaptureTimeURI}, k))
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	must(err)
	r := &captureReceiver{pc: pc}
	t.Cleanup(func() {
		if r.loc != "" {
			req, _ := http.NewRequest("DELETE", url[:len(url)-len("/whep/demo")]+r.loc, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		pc.Close() // ends the track readers
	})
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		must(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		id := uint8(id)
		for _, h := range recv.GetParameters().HeaderExtensions {
			if h.URI == rtcout.AbsCaptureTimeURI && id == 0 {
				id = uint8(h.ID)
			}
		}
		video := tr.Kind() == webrtc.RTPCodecTypeVideo
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			b := p.GetExtension(id)
			if id == 0 || b == nil {
				continue
			}
			var ext rtp.AbsCaptureTimeExtension
			if ext.Unmarshal(b) != nil {
				continue
			}
			select {
			case got <- capturedPacket{video: video, rtpTime: p.Timestamp, capture: ext.CaptureTime(), offset: ext.EstimatedCaptureClockOffsetDuration()}:
			default: // the test has what it needs
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	must(err)
	gathered := webrtc.GatheringCompletePromise(pc)
	must(pc.SetLocalDescription(offer))
	select {
	case <-gathered:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	sdp := pc.LocalDescription().SDP
	if id != 0 {
		ext := regexp.MustCompile(`a=extmap:\d+ ` + regexp.QuoteMeta(rtcout.AbsCaptureTimeURI))
		sdp = ext.ReplaceAllString(sdp, fmt.Sprintf("a=extmap:%d %s", id, rtcout.AbsCaptureTimeURI))
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader([]byte(sdp)))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	must(err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST: %d %s", resp.StatusCode, body)
	}
	r.loc = resp.Header.Get("Location")
	must(pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}))
	return r
}

// TestAbsCaptureTimeOnBothTracks: two Pion viewers that number abs-capture-time
// differently both get it on video and audio, and each packet's capture time is the
// stream's timeline wall time of that packet's RTP time (within 1 ms: the RTP clock's
// resolution and the NTP format's rounding are microseconds).
func TestAbsCaptureTimeOnBothTracks(t *testing.T) {
	h := encodingHost(t)
	st, err := h.srv.Stream("demo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		pad, id int
	}{
		{"numbered first", 0, 0},
		{"numbered after five others", 5, 0},
		{"numbered past 14 (the two-byte form, RFC 8285 §4.3)", 0, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan capturedPacket, 256)
			joinCapture(ctx, t, h.web+"/whep/demo", tc.pad, tc.id, got)
			seen := map[bool]int{}
			for seen[true] < 50 || seen[false] < 50 {
				var p capturedPacket
				select {
				case p = <-got:
				case <-ctx.Done():
					t.Fatalf("packets with abs-capture-time: %d video, %d audio", seen[true], seen[false])
				}
				seen[p.video]++
				clock := map[bool]float64{true: 90000, false: 48000}[p.video]
				rt := time.Duration(float64(p.rtpTime-st.RTPTime(p.video, 0)) / clock * float64(time.Second))
				want := st.WallTime(rt)
				if d := p.capture.Sub(want); d.Abs() > time.Millisecond {
					t.Fatalf("video=%v: RTP time %d captured at %v, the stream's timeline says %v (off by %v)",
						p.video, p.rtpTime, p.capture, want, d)
				}
				if p.offset == nil || *p.offset != 0 {
					t.Fatalf("video=%v: capture clock offset %v, want 0 (the capture clock is the SR clock)", p.video, p.offset)
				}
			}
		})
	}
}
