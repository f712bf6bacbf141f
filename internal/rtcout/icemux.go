package rtcout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/avhost/avhost/internal/netopt"
)

// ICEMux is the host's one ICE port: a UDP socket and a passive ICE-TCP listener
// (RFC 6544) that every Pion PeerConnection of every session shares, the viewers' and
// the WHIP publisher's, told apart by their ICE username fragments. A firewall then
// opens one UDP and one TCP port instead of a range, and a viewer whose network drops
// UDP still connects over TCP. Without it each PeerConnection binds its own ephemeral
// sockets. Make one with NewICEMux, hand it to every output (Options.Mux), Close it
// after the last output.
type ICEMux struct {
	udp     ice.UDPMux
	tcp     ice.TCPMux
	udpConn net.PacketConn
	tcpLn   net.Listener
}

// ICEMuxConfig says where the mux listens.
type ICEMuxConfig struct {
	// UDP and TCP are "host:port" addresses; "" or "-" leaves that transport to
	// per-PeerConnection ephemeral ports (UDP) or off (TCP).
	UDP, TCP string
	// Interfaces, if set, are the only network interfaces whose addresses become host
	// candidates (Options.ICEInterfaces).
	Interfaces []string
	// Net sets SO_REUSEPORT (a hitless restart's second avhost binds the same port)
	// and TCP keepalive on both sockets.
	Net netopt.Options
	// WrapTCP, if set, wraps the ICE-TCP listener, e.g. to cap its connections: anyone
	// can open them, and each holds a file descriptor and a goroutine until its first
	// STUN message or firstSTUNTimeout.
	WrapTCP func(net.Listener) net.Listener
}

// ICE-TCP connection timeouts: a connection that sends no STUN binding request within
// firstSTUNTimeout, or whose username matches no viewer and that stays unused for
// unknownUfragAlive, is closed. A browser sends its first check as soon as it has
// connected; Pion's defaults (30 s each) let an idle flood hold descriptors 6 times
// as long.
const (
	firstSTUNTimeout  = 5 * time.Second
	unknownUfragAlive = 10 * time.Second
)

// NewICEMux binds c's sockets; nil, nil if c binds none.
func NewICEMux(c ICEMuxConfig) (*ICEMux, error) {
	m := &ICEMux{}
	log := logging.NewDefaultLoggerFactory().NewLogger("icemux")
	if on(c.UDP) {
		// One socket on the address as given: on the unspecified address (":8189") it
		// serves every interface, v4 and v6, and the mux lists their addresses as
		// candidates. ice.NewMultiUDPMuxFromPort would bind a socket per address instead.
		conn, err := netopt.ListenPacket(context.Background(), "udp", c.UDP, c.Net)
		if err != nil {
			return nil, fmt.Errorf("rtcout: ICE UDP port %s: %w", c.UDP, err)
		}
		m.udpConn = conn
		var mux ice.UDPMux = webrtc.NewICEUDPMux(log, conn)
		if len(c.Interfaces) > 0 {
			mux = filteredUDPMux{UDPMux: mux, interfaces: c.Interfaces}
		}
		m.udp = mux
	}
	if on(c.TCP) {
		ln, err := netopt.Listen(context.Background(), "tcp", c.TCP, c.Net)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("rtcout: ICE TCP port %s: %w", c.TCP, err)
		}
		m.tcpLn = ln
		if c.WrapTCP != nil {
			ln = c.WrapTCP(ln)
		}
		m.tcp = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: log,
			ReadBufferSize:       8, // packets queued per connection, as webrtc.NewICETCPMux's callers use
			WriteBufferSize:      tcpWriteBuffer,
			FirstStunBindTimeout: firstSTUNTimeout, AliveDurationForConnFromStun: unknownUfragAlive})
	}
	if m.udp == nil && m.tcp == nil {
		return nil, nil
	}
	return m, nil
}

func on(addr string) bool { return addr != "" && addr != "-" }

// UDPAddr and TCPAddr are the bound addresses (nil when that transport is off).
func (m *ICEMux) UDPAddr() net.Addr {
	if m == nil || m.udpConn == nil {
		return nil
	}
	return m.udpConn.LocalAddr()
}

// TCPAddr is the ICE-TCP listener's address, nil when off.
func (m *ICEMux) TCPAddr() net.Addr {
	if m == nil || m.tcpLn == nil {
		return nil
	}
	return m.tcpLn.Addr()
}

// Close closes both muxes, which close their socket and listener: every
// PeerConnection on them fails.
func (m *ICEMux) Close() error {
	if m == nil {
		return nil
	}
	var errs []error
	if m.udp != nil {
		errs = append(errs, m.udp.Close())
	}
	if m.tcp != nil {
		errs = append(errs, m.tcp.Close())
	}
	return errors.Join(errs...)
}

// apply puts the muxes in se: host candidates come from them (no socket per
// PeerConnection), and network types follow what is on.
func (m *ICEMux) apply(se *webrtc.SettingEngine) {
	if m == nil {
		return
	}
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if m.udp != nil {
		se.SetICEUDPMux(m.udp)
	}
	if m.tcp != nil {
		se.SetICETCPMux(m.tcp)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	// The host only listens (passive); it never dials a viewer's passive candidate,
	// which would be one more socket per viewer and is what the viewer does anyway.
	se.DisableActiveTCP(true)
}

// interfaceFilter keeps the named interfaces (nil: no filter).
func interfaceFilter(names []string) func(string) bool {
	if len(names) == 0 {
		return nil
	}
	return func(name string) bool { return slices.Contains(names, name) }
}

// filteredUDPMux lists only the addresses of the named interfaces as candidates. On
// the unspecified address the UDP mux lists every interface's and does not consult
// SettingEngine's interface filter, which applies to the other candidates only.
type filteredUDPMux struct {
	ice.UDPMux
	interfaces []string
}

func (f filteredUDPMux) GetListenAddresses() []net.Addr {
	keep := map[string]bool{}
	for _, name := range f.interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue // an interface that is not (yet) there has no addresses
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				keep[ipn.IP.String()] = true
			}
		}
	}
	var out []net.Addr
	for _, a := range f.UDPMux.GetListenAddresses() {
		if ua, ok := a.(*net.UDPAddr); ok && keep[ua.IP.String()] {
			out = append(out, a)
		}
	}
	return out
}

// tcpWriteBuffer bounds what the mux holds for one ICE-TCP connection beyond what the
// kernel takes: a path slower than the stream fills it, and past it packets drop as
// they would over UDP. A viewer that stops reading (and keeps its ICE alive by
// sending) holds it full for as long as it likes; Pion's callers' 4 MiB made that
// 800 MiB for 200 viewers. 1 MiB is over 5 s of the default 1.5 Mb/s stream (2 s at
// 4 Mb/s), longer than any delay a live picture is worth.
const tcpWriteBuffer = 1 << 20
