package transfer

import (
	"net/netip"
	"time"
)

// PacketConn is the session's UDP socket as the engine sees it. The
// production implementation wraps a *net.UDPConn (internal/udp); tests use an
// in-memory network with a simulated clock.
type PacketConn interface {
	// ReadPacket reads one datagram into b. It returns an error satisfying
	// errors.Is(err, os.ErrDeadlineExceeded) when deadline passes first.
	// Addresses are unmapped (IPv4-mapped IPv6 becomes IPv4).
	ReadPacket(b []byte, deadline time.Time) (n int, from netip.AddrPort, err error)
	// WritePacket sends one datagram to addr.
	WritePacket(b []byte, to netip.AddrPort) error
}

// BatchWriter is implemented by conns that can send several datagrams to
// one address in one system call (internal/udp.SessionConn: UDP GSO, or
// sendmmsg). Send uses it for the packets of a window.
type BatchWriter interface {
	// WriteBatch sends the datagrams laid out back to back in buf, each
	// seg bytes long but the last, which may be shorter, to addr.
	WriteBatch(buf []byte, seg int, to netip.AddrPort) error
}

// Clock tells the time; tests inject a simulated one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock is the wall clock.
var RealClock Clock = realClock{}
