package rtcout

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// NAT1To1IPs replace the IPv4 host candidates' addresses: a host behind 1:1 NAT
// advertises its public address, and not its private one. (IPv6 host candidates are
// kept, as before the switch from SetNAT1To1IPs to address rewrite rules.)
func TestNAT1To1IPsReplaceHostCandidates(t *testing.T) {
	api, err := newAPI(Options{NAT1To1IPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	n := 0
	for _, l := range strings.Split(pc.LocalDescription().SDP, "\n") {
		f := strings.Fields(l) // a=candidate:F C udp PRIO ADDR PORT typ host ...
		if !strings.HasPrefix(l, "a=candidate:") || len(f) < 8 || f[7] != "host" {
			continue
		}
		if ip, err := netip.ParseAddr(f[4]); err != nil || !ip.Is4() {
			continue
		}
		n++
		if f[4] != "203.0.113.7" {
			t.Errorf("IPv4 host candidate without the 1:1 address: %s", l)
		}
	}
	if n == 0 {
		t.Fatal("no IPv4 host candidates")
	}
}

func TestNACKBufferMustBeAPowerOfTwo(t *testing.T) {
	if _, err := newAPI(Options{NACKBuffer: 300}); err == nil {
		t.Fatal("a NACK buffer of 300 was accepted")
	}
}
