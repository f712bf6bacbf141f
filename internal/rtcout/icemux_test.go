package rtcout

import (
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"
)

// stunBinding is a STUN binding request (RFC 5389 §6) with USERNAME "ufrag:peer",
// framed for ICE-TCP (RFC 4571: a 16-bit length first).
func stunBinding(ufrag string) []byte {
	user := []byte(ufrag + ":peer")
	attr := binary.BigEndian.AppendUint16(nil, 0x0006) // USERNAME
	attr = binary.BigEndian.AppendUint16(attr, uint16(len(user)))
	attr = append(attr, user...)
	for len(attr)%4 != 0 {
		attr = append(attr, 0)
	}
	msg := binary.BigEndian.AppendUint16(nil, 0x0001) // Binding request
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(attr)))
	msg = binary.BigEndian.AppendUint32(msg, 0x2112A442)
	msg = append(msg, "avhost-test!"...) // transaction id, 12 bytes
	msg = append(msg, attr...)
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// TestICETCPHoldsLittleForAPeerThatDoesNotRead: the ICE-TCP port buffers what a
// PeerConnection writes to a connection the kernel does not take at once; a viewer
// that stops reading (while it keeps its ICE alive by sending) holds that buffer full
// for as long as it likes. It was 4 MiB a connection (Pion's callers' figure): 200
// viewers could hold 800 MiB. Now it is a few seconds of the stream.
func TestICETCPHoldsLittleForAPeerThatDoesNotRead(t *testing.T) {
	// The host's kernel takes little too (its send buffer autotunes to megabytes on
	// loopback), so what the writes measure is the mux's own buffer.
	m, err := NewICEMux(ICEMuxConfig{TCP: "127.0.0.1:0", WrapTCP: func(l net.Listener) net.Listener { return smallSendBuffer{l} }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const ufrag = "readsnothing"
	pc, err := m.tcp.GetConnByUfrag(ufrag, false, net.IPv4(127, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	// A peer with a small receive window, that never reads: what the host's kernel
	// takes of the writes is small, and the rest waits in the mux's buffer.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	peer, err := d.Dial("tcp", m.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write(stunBinding(ufrag)); err != nil {
		t.Fatal(err)
	}
	// The mux hands the connection to the ufrag's PacketConn once it has read the
	// binding request; until then a write to the peer's address has nowhere to go.
	pkt := make([]byte, 1200)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := pc.WriteTo(pkt, peer.LocalAddr()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mux did not take the connection within 5 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the mux, which has no signal for it
	}
	taken := len(pkt)
	for taken < 64<<20 {
		if _, err := pc.WriteTo(pkt, peer.LocalAddr()); err != nil {
			break // the buffer is full: the packet is dropped, as UDP would
		}
		taken += len(pkt)
	}
	t.Logf("a peer that reads nothing: %d KiB taken before writes were refused", taken>>10)
	// 1 MiB, and the little the host's kernel takes besides.
	const most = 1<<20 + 64<<10
	if taken > most {
		t.Fatalf("the ICE-TCP port took %d KiB for a peer that reads nothing, over %d KiB", taken>>10, most>>10)
	}
}

// smallSendBuffer gives each accepted connection a small kernel send buffer.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}
