package rtspout

import "bytes"

// paramSets finds the SPS and PPS NAL units in an H.264 byte-stream access unit.
func paramSets(au []byte) (sps, pps []byte) {
	for _, nalu := range splitAnnexB(au) {
		if len(nalu) == 0 {
			continue
		}
		switch nalu[0] & 0x1f {
		case 7:
			sps = nalu
		case 8:
			pps = nalu
		}
	}
	return sps, pps
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
