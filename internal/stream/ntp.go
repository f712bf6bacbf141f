package stream

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// toNTP converts wall time to the 64-bit NTP format of Sender Reports (RFC 3550 §4).
func toNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 → 1970
	s := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return s<<32 | frac
}

func randU32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}
