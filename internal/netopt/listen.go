// Package netopt makes avhost's server sockets churn-proof: SO_REUSEADDR so a
// restarted avhost binds at once while old connections sit in TIME_WAIT, optional
// SO_REUSEPORT so a second avhost can take over a port (hitless restart), and
// per-socket TCP keepalive (idle, interval, count) so dead peers are found without a
// root sysctl. Defaults are the tcp_keepalive_* values the aiortc streamer avhost
// replaced set host-wide with sysctl: 600 s / 30 s / 3.
package netopt

import (
	"context"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure listeners. Zero fields take the defaults named.
type Options struct {
	// ReusePort sets SO_REUSEPORT: another process with the same option may bind the
	// same address and share new connections (hitless restart).
	ReusePort bool `yaml:"reuseport"`
	// KeepAliveIdle, KeepAliveInterval and KeepAliveCount default to 600 s, 30 s, 3
	// (the host-wide tcp_keepalive_* sysctls of the aiortc streamer avhost replaced),
	// set per socket. KeepAliveIdle < 0 disables.
	KeepAliveIdle     time.Duration `yaml:"keepalive_idle"`
	KeepAliveInterval time.Duration `yaml:"keepalive_interval"`
	KeepAliveCount    int           `yaml:"keepalive_count"`
}

func (o Options) keepAlive() net.KeepAliveConfig {
	if o.KeepAliveIdle < 0 {
		return net.KeepAliveConfig{Enable: false}
	}
	k := net.KeepAliveConfig{Enable: true, Idle: o.KeepAliveIdle, Interval: o.KeepAliveInterval, Count: o.KeepAliveCount}
	if k.Idle == 0 {
		k.Idle = 600 * time.Second
	}
	if k.Interval == 0 {
		k.Interval = 30 * time.Second
	}
	if k.Count == 0 {
		k.Count = 3
	}
	return k
}

func (o Options) control(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		// SO_REUSEADDR: bind even while connections of a previous process on this port
		// are in TIME_WAIT (they would otherwise block bind with EADDRINUSE).
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		if o.ReusePort {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Listen opens a TCP listener with the options; accepted connections get the
// keepalive settings.
func Listen(ctx context.Context, network, address string, o Options) (net.Listener, error) {
	lc := net.ListenConfig{Control: o.control, KeepAliveConfig: o.keepAlive()}
	return lc.Listen(ctx, network, address)
}

// ListenPacket opens a UDP socket with SO_REUSEADDR (and SO_REUSEPORT if asked).
func ListenPacket(ctx context.Context, network, address string, o Options) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: o.control}
	return lc.ListenPacket(ctx, network, address)
}
