package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listenRcvBuf is the receive buffer asked for on listening sockets, so a
// burst of requests (a rack booting at once) is queued, not dropped.
const listenRcvBuf = 4 << 20

// msgTrunc is the recvmsg flag reporting a datagram longer than the buffer.
const msgTrunc = unix.MSG_TRUNC

// Listen creates the listening sockets for spec, restricted to family.
//
// For the wildcard with AnyFamily (and for "::" with AnyFamily) it creates
// one dual-stack AF_INET6 socket with IPV6_V6ONLY=0, which receives IPv4
// too; if IPv6 is unavailable it falls back to one AF_INET socket. With
// IPv4Only the wildcard is "0.0.0.0"; with IPv6Only it is "::" with
// IPV6_V6ONLY=1. Otherwise it creates one socket per address of spec that
// family allows, and fails if there is none. Each socket has packet info
// enabled and a large receive buffer (best effort). The caller owns the
// returned listeners and must Close them; on error none are left open.
func Listen(spec ListenSpec, family Family) ([]*Listener, error) {
	if family > IPv6Only {
		return nil, fmt.Errorf("listen: invalid %v", family)
	}
	if spec.IsWildcard() {
		switch family {
		case IPv4Only:
			return listenOne(netip.IPv4Unspecified(), spec.Port, false)
		case IPv6Only:
			return listenOne(netip.IPv6Unspecified(), spec.Port, false)
		}
		ls, err := listenOne(netip.IPv6Unspecified(), spec.Port, true)
		if err != nil && ipv6Unavailable(err) {
			return listenOne(netip.IPv4Unspecified(), spec.Port, false)
		}
		return ls, err
	}
	var ls []*Listener
	for _, a := range spec.Addrs {
		if !family.allows(a) {
			continue
		}
		dual := family == AnyFamily && a == netip.IPv6Unspecified()
		l, err := listen(a, spec.Port, dual)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("listen: no %v address in %v", family, spec)
	}
	return ls, nil
}

func listenOne(a netip.Addr, port uint16, dual bool) ([]*Listener, error) {
	l, err := listen(a, port, dual)
	if err != nil {
		return nil, err
	}
	return []*Listener{l}, nil
}

// ipv6Unavailable reports whether err says the host cannot do IPv6.
func ipv6Unavailable(err error) bool {
	return errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) ||
		errors.Is(err, unix.EADDRNOTAVAIL)
}

// listen creates one listening socket on a:port; dual clears IPV6_V6ONLY.
func listen(a netip.Addr, port uint16, dual bool) (*Listener, error) {
	network := "udp4"
	if a.Is6() {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = setListenOpts(int(fd), a.Is6(), dual)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(a, port).String())
	if err != nil {
		return nil, err
	}
	return newListener(pc.(*net.UDPConn), a.Is6()), nil
}

// setListenOpts enables packet info and a large receive buffer on fd,
// before bind. Only packet-info failures are errors.
func setListenOpts(fd int, ipv6, dual bool) error {
	// SO_RCVBUFFORCE goes past net.core.rmem_max when we are root (the
	// master usually is, to bind port 69); otherwise SO_RCVBUF, capped.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, listenRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, listenRcvBuf)
	}
	if !ipv6 {
		return os.NewSyscallError("setsockopt IP_PKTINFO", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1))
	}
	if dual {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
		return os.NewSyscallError("setsockopt IPV6_RECVPKTINFO", err)
	}
	// On a dual-stack socket, IP_PKTINFO adds the IPv4 ipi_spec_dst for
	// IPv4 datagrams: the local address even when the client sent to a
	// broadcast address. Best effort; IPV6_PKTINFO already gives ipi6_addr.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	return nil
}

func newListener(c *net.UDPConn, ipv6 bool) *Listener {
	var local netip.AddrPort
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		local = unmapAddrPort(ua.AddrPort())
	}
	return &Listener{
		conn:  c,
		ipv6:  ipv6,
		local: local,
		oob:   make([]byte, oobSize),
		woob:  make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo)),
	}
}

// FromFile wraps an inherited UDP socket (inetd mode's fd 0, systemd's
// LISTEN_FDS) in a Listener and enables packet info on it. It duplicates
// the descriptor: f stays owned by the caller, who should close it.
func FromFile(f *os.File) (*Listener, error) {
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("listener from %s: %w", f.Name(), err)
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("listener from %s: not a UDP socket", f.Name())
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	var domain int
	var serr error
	err = rc.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if serr != nil {
			serr = os.NewSyscallError("getsockopt SO_DOMAIN", serr)
			return
		}
		serr = setListenOpts(int(fd), domain == unix.AF_INET6, false)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("listener from %s: %w", f.Name(), err)
	}
	return newListener(c, domain == unix.AF_INET6), nil
}

// ReadRequest reads one datagram into b. It returns its length, the
// sender, the local address the sender sent it to (from IP_PKTINFO /
// IPV6_PKTINFO; the zone is set for IPv6 link-local addresses) and the
// index of the interface it arrived on. All addresses are unmapped.
//
// If the datagram was longer than b, it returns n == len(b), peer, local
// and ErrTruncated. If the kernel gave no packet info and the listener is
// bound to a wildcard, it returns ErrNoDestination with n and peer set.
// A deadline set with SetReadDeadline gives an error satisfying
// errors.Is(err, os.ErrDeadlineExceeded). ReadRequest does not allocate.
//
// For an IPv4 datagram, local is the kernel's ipi_spec_dst: the header's
// destination address for unicast, a local address of the receiving
// interface for broadcast. For IPv6 it is the header's destination.
func (l *Listener) ReadRequest(b []byte) (n int, peer netip.AddrPort, local netip.Addr, ifindex int, err error) {
	n, oobn, flags, from, err := l.conn.ReadMsgUDPAddrPort(b, l.oob)
	if err != nil {
		return 0, netip.AddrPort{}, netip.Addr{}, 0, err
	}
	peer = unmapAddrPort(from)
	local, ifindex = l.parsePktinfo(l.oob[:oobn])
	if !local.IsValid() {
		if l.local.Addr().IsUnspecified() {
			return n, peer, local, ifindex, ErrNoDestination
		}
		local = l.local.Addr()
	}
	if flags&msgTrunc != 0 {
		return n, peer, local, ifindex, ErrTruncated
	}
	return n, peer, local, ifindex, nil
}

// parsePktinfo extracts the local address and interface index from
// received control messages, preferring IP_PKTINFO's ipi_spec_dst for
// IPv4. It returns an invalid address when there is no packet info.
func (l *Listener) parsePktinfo(oob []byte) (local netip.Addr, ifindex int) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
			a := netip.AddrFrom4([4]byte(data[4:8]))
			if a.IsUnspecified() {
				// Queued before IP_PKTINFO was enabled (an inherited
				// socket): only the header destination is known.
				a = netip.AddrFrom4([4]byte(data[8:12]))
			}
			return a, int(int32(binary.NativeEndian.Uint32(data[0:4])))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
			local = unmap(netip.AddrFrom16([16]byte(data[0:16])))
			ifindex = int(binary.NativeEndian.Uint32(data[16:20]))
			if needsZone(local) && ifindex != 0 {
				local = local.WithZone(l.zones.name(ifindex))
			}
			// Keep looking: an IP_PKTINFO may follow for IPv4.
		}
	}
	return local, ifindex
}

// WriteTo sends b to peer from the listener's socket with the source
// address forced to local (IP_PKTINFO / IPV6_PKTINFO), so that a client
// that talked to 127.0.0.2 gets the answer from 127.0.0.2. An invalid or
// unspecified local lets the kernel choose. On a dual-stack socket, IPv4
// peer and local are mapped as needed; local and peer must be of the same
// family. WriteTo is for the few replies the master sends itself (ERROR
// packets); it is safe for concurrent use and does not allocate for
// addresses without a zone.
func (l *Listener) WriteTo(b []byte, peer netip.AddrPort, local netip.Addr) error {
	peer = unmapAddrPort(peer)
	local = unmap(local)
	withSrc := local.IsValid() && !local.IsUnspecified()
	if withSrc && local.Is4() != peer.Addr().Is4() {
		return fmt.Errorf("write to %v from %v: address families differ", peer, local)
	}
	if !l.ipv6 && !peer.Addr().Is4() {
		return fmt.Errorf("write to %v: not an IPv4 address on an IPv4 socket", peer)
	}
	to := peer
	if l.ipv6 && peer.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(peer.Addr().As16()), peer.Port())
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	var oob []byte
	if withSrc {
		var err error
		if oob, err = l.srcCmsg(local); err != nil {
			return err
		}
	}
	_, _, err := l.conn.WriteMsgUDPAddrPort(b, oob, to)
	return err
}

// srcCmsg encodes the packet-info control message that sets the source
// address to local, in l.woob. l.wmu must be held.
func (l *Listener) srcCmsg(local netip.Addr) ([]byte, error) {
	var (
		level, typ, size int
	)
	if l.ipv6 {
		level, typ, size = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo
	} else {
		level, typ, size = unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo
	}
	oob := l.woob[:unix.CmsgSpace(size)]
	clear(oob)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = int32(level)
	h.Type = int32(typ)
	h.SetLen(unix.CmsgLen(size))
	data := oob[unix.CmsgLen(0):]
	if !l.ipv6 {
		// ipi_ifindex 0: route by ipi_spec_dst, the source we want (ip(7)).
		a := local.As4()
		copy(data[4:8], a[:])
		return oob, nil
	}
	a := local.As16() // IPv4-mapped for an IPv4 source: ip_cmsg_send accepts it
	copy(data[0:16], a[:])
	if local.Zone() != "" {
		idx, err := zoneIndex(local.Zone())
		if err != nil {
			return nil, fmt.Errorf("write from %v: %w", local, err)
		}
		binary.NativeEndian.PutUint32(data[16:20], uint32(idx))
	}
	return oob, nil
}
