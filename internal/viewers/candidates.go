package viewers

import (
	"fmt"
	"strings"
)

// MaxCandidates caps the remote ICE candidates of one viewer: those its offer carries,
// and those it trickles (/ws) on top. Each costs the host a candidate, its pairs with
// every local candidate, connectivity checks sent to the address it names (anywhere)
// and, on the shared ICE port, the port's routing for that address. A browser has a
// few dozen (host addresses per interface and family, UDP and TCP, server reflexive,
// one relay per TURN URL).
const MaxCandidates = 100

// CheckOffer refuses an offer with more than MaxCandidates candidates (ErrBadOffer),
// before any work is done for it.
func CheckOffer(sdp string) error {
	n := 0
	for line := range strings.Lines(sdp) {
		if strings.HasPrefix(line, "a=candidate:") {
			if n++; n > MaxCandidates {
				return fmt.Errorf("%w: more than %d candidates", ErrBadOffer, MaxCandidates)
			}
		}
	}
	return nil
}
