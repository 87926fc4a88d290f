package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// sessionBuf is the send and receive buffer asked for on session sockets
// (best effort; the kernel caps it at net.core.[rw]mem_max), room for a
// large RFC 7440 window.
const sessionBuf = 1 << 20

// NewSessionSocket creates a UDP socket bound to exactly local, for one
// transfer. With the zero PortRange the kernel picks the port; otherwise
// the ports of the range are tried from a random offset, skipping those in
// use, and errors.Is(err, ErrPortRangeExhausted) when none is free.
//
// The socket is AF_INET for an IPv4 local (mapped addresses are unmapped)
// and AF_INET6 otherwise, with the zone giving the scope id. It is
// close-on-exec and blocking (whoever wraps it in a net conn makes its own
// non-blocking duplicate, see NewSessionConn), has ~1 MiB buffers and, for
// IPv4, path-MTU discovery off like tftpd-hpa (IP_PMTUDISC_DONT: no DF bit,
// so a big block is fragmented rather than lost to a broken PMTU path). It
// is not connected: the session must hear strangers to answer them ERROR 5
// (RFC 1350 §4).
//
// It returns the socket, owned by the caller, and the bound address (with a
// zone, named after the interface, only for link-local addresses).
func NewSessionSocket(local netip.Addr, ports PortRange) (*os.File, netip.AddrPort, error) {
	if !local.IsValid() {
		return nil, netip.AddrPort{}, errors.New("session socket: invalid local address")
	}
	if !ports.IsZero() && (ports.Lo == 0 || ports.Lo > ports.Hi) {
		return nil, netip.AddrPort{}, fmt.Errorf("session socket: invalid port range %d:%d", ports.Lo, ports.Hi)
	}
	local = unmap(local)
	domain := unix.AF_INET
	var scope uint32
	if local.Is6() {
		domain = unix.AF_INET6
		idx, err := zoneIndex(local.Zone())
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("session socket on %v: %w", local, err)
		}
		scope = uint32(idx)
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("session socket on %v: %w", local, os.NewSyscallError("socket", err))
	}
	// fd is ours until os.NewFile takes it; close it on every error path.
	bound, err := bindSession(fd, local, scope, ports)
	if err != nil {
		unix.Close(fd)
		return nil, netip.AddrPort{}, err
	}
	return os.NewFile(uintptr(fd), "udp:"+bound.String()), bound, nil
}

func bindSession(fd int, local netip.Addr, scope uint32, ports PortRange) (netip.AddrPort, error) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sessionBuf)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sessionBuf)
	if local.Is4() {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	}
	bind := func(port uint16) error {
		var sa unix.Sockaddr
		if local.Is4() {
			sa = &unix.SockaddrInet4{Port: int(port), Addr: local.As4()}
		} else {
			sa = &unix.SockaddrInet6{Port: int(port), ZoneId: scope, Addr: local.As16()}
		}
		return unix.Bind(fd, sa)
	}
	var err error
	if ports.IsZero() {
		err = bind(0)
	} else if !ports.ports(func(p uint16) bool {
		err = bind(p)
		return err != unix.EADDRINUSE
	}) {
		return netip.AddrPort{}, fmt.Errorf("session socket on %v: %w %v", local, ErrPortRangeExhausted, ports)
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("session socket on %v: %w", local, os.NewSyscallError("bind", err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("session socket on %v: %w", local, os.NewSyscallError("getsockname", err))
	}
	var port int
	local = local.WithZone("")
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		port = sa.Port
	case *unix.SockaddrInet6:
		port = sa.Port
		if needsZone(local) && sa.ZoneId != 0 {
			// Name the zone the way Go's net package does.
			var z zoneCache
			local = local.WithZone(z.name(int(sa.ZoneId)))
		}
	}
	return netip.AddrPortFrom(local, uint16(port)), nil
}
