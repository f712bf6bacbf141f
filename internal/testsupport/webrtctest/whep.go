package webrtctest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Answered is what a WHEP server answered a POST with.
type Answered struct {
	Location string   // the WHEP resource
	Links    []string // Link headers (ICE servers, RFC 9725)
}

// ExchangeWHEP offers pc to the WHEP endpoint url (gathering every candidate first:
// no trickle), with token as its bearer if set, and sets the answer. On an error pc
// is closed.
func ExchangeWHEP(ctx context.Context, pc *webrtc.PeerConnection, url, token string) (Answered, error) {
	fail := func(err error) (Answered, error) { pc.Close(); return Answered{}, err }
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("WHEP POST %s: %s %s", url, resp.Status, body))
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return fail(err)
	}
	return Answered{Location: resp.Header.Get("Location"), Links: resp.Header.Values("Link")}, nil
}
