package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Single-port mode (fbtftp-master --single-port): every packet of every
// session leaves from, and arrives at, the listening address and port, so
// that NAT, conntrack and per-flow balancers see one flow per session.
//
// The session socket is still one socket per session, owned by the
// session's worker: it is bound to the listening port and to the local
// address the client used (never a wildcard), with SO_REUSEPORT like the
// listener, and connected to the client. Linux's UDP lookup prefers the
// socket whose connected peer matches the datagram's source (a connected
// socket scores higher than the listener, and since Linux 6.13 connected
// sockets are found in a hash of the 4-tuple), so the client's ACKs reach
// the worker and every other client's requests still reach the listener.
//
// SO_REUSEPORT rather than SO_REUSEADDR: the kernel lets only sockets of
// the same user join a reuseport group, so no other local user can bind
// the port beside the listener and take requests (with SO_REUSEADDR any
// process allowed to bind the port could).
//
// A worker is untrusted: it could connect the socket elsewhere, or
// disconnect it (connect(AF_UNSPEC)), and an unconnected socket on the
// listening port takes every request sent to that address. The master
// therefore attaches a classic BPF filter that accepts only the client's
// address and port, and locks it (SO_LOCK_FILTER): the worker can neither
// remove nor replace it, so it can never read another client's packet; the
// master also checks each socket's peer (SinglePortPeer) and kills a
// worker that moved it.

// NewSinglePortSocket creates the session socket of single-port mode: UDP,
// SO_REUSEPORT, bound to local (the address the client used, and the
// listener's port), connected to peer, with a locked filter that accepts
// only datagrams from peer. It has the options of NewSessionSocket
// (close-on-exec, blocking, ~1 MiB buffers, no DF bit for IPv4). The
// listener must have SO_REUSEPORT (EnableSinglePort), or bind fails with
// EADDRINUSE.
//
// Datagrams from other sources may have been queued in the short time
// between bind and connect: the caller reads them with DrainSinglePort
// before it hands the socket over, and handles them as requests.
//
// It returns the socket, owned by the caller.
func NewSinglePortSocket(local, peer netip.AddrPort) (*os.File, error) {
	local, peer = unmapAddrPort(local), unmapAddrPort(peer)
	if !local.IsValid() || local.Addr().IsUnspecified() || local.Port() == 0 {
		return nil, fmt.Errorf("single-port socket: invalid local address %v", local)
	}
	if !peer.IsValid() || peer.Port() == 0 || peer.Addr().Is4() != local.Addr().Is4() {
		return nil, fmt.Errorf("single-port socket on %v: invalid peer %v", local, peer)
	}
	domain := unix.AF_INET
	var scope uint32
	if local.Addr().Is6() {
		domain = unix.AF_INET6
		idx, err := zoneIndex(local.Addr().Zone())
		if err != nil {
			return nil, fmt.Errorf("single-port socket on %v: %w", local, err)
		}
		scope = uint32(idx)
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("single-port socket on %v: %w", local, os.NewSyscallError("socket", err))
	}
	// fd is ours until os.NewFile takes it; close it on every error path.
	if err := setupSinglePort(fd, local, peer, scope); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("single-port socket %v -> %v: %w", local, peer, err)
	}
	return os.NewFile(uintptr(fd), "udp:"+local.String()+"->"+peer.String()), nil
}

func setupSinglePort(fd int, local, peer netip.AddrPort, scope uint32) error {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sessionBuf)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sessionBuf)
	if local.Addr().Is4() {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_REUSEPORT", err)
	}
	if err := unix.Bind(fd, sockaddr(local, scope)); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if err := unix.Connect(fd, sockaddr(peer, scope)); err != nil {
		return os.NewSyscallError("connect", err)
	}
	return lockPeerFilter(fd, peer)
}

func sockaddr(a netip.AddrPort, scope uint32) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	if !needsZone(a.Addr()) {
		scope = 0
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), ZoneId: scope, Addr: a.Addr().As16()}
}

// skfNetOff is SKF_NET_OFF: a classic BPF load at skfNetOff+k reads byte k
// of the network (IP) header; a plain offset reads from the transport
// (UDP) header, where a UDP socket's filter starts.
const skfNetOff = -0x100000

// netOff is the BPF offset of byte k of the network header (the K field is
// unsigned: the negative offset wraps, as in C).
func netOff(k int32) uint32 { return uint32(skfNetOff + k) }

// peerFilter returns a classic BPF program that accepts the datagrams
// whose source is peer and drops the others: the source port is the
// first 16 bits of the UDP header, the source address at byte 12 of the
// IPv4 header or bytes 8..23 of the IPv6 header.
func peerFilter(peer netip.AddrPort) []unix.SockFilter {
	const (
		ldW  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldH  = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
	)
	var words []uint32
	off := netOff(12)
	if a := peer.Addr(); a.Is4() {
		b := a.As4()
		words = []uint32{binary.BigEndian.Uint32(b[:])}
	} else {
		b := a.As16()
		off = netOff(8)
		for i := 0; i < 16; i += 4 {
			words = append(words, binary.BigEndian.Uint32(b[i:]))
		}
	}
	// Each check jumps to the final "drop" on a mismatch: n checks of two
	// instructions, the port check, accept, drop.
	n := len(words) + 1
	prog := make([]unix.SockFilter, 0, 2*n+2)
	for i, w := range words {
		prog = append(prog,
			unix.SockFilter{Code: ldW, K: off + uint32(4*i)},
			unix.SockFilter{Code: jeq, K: w, Jt: 0, Jf: uint8(2*(n-i) - 1)})
	}
	prog = append(prog,
		unix.SockFilter{Code: ldH, K: 0},
		unix.SockFilter{Code: jeq, K: uint32(peer.Port()), Jt: 0, Jf: 1},
		unix.SockFilter{Code: retK, K: 0xffffffff}, // accept, whole datagram
		unix.SockFilter{Code: retK, K: 0})          // drop
	return prog
}

// lockPeerFilter attaches peerFilter(peer) to fd and locks it: no one
// holding the socket can detach or replace it (SO_LOCK_FILTER, socket(7)).
func lockPeerFilter(fd int, peer netip.AddrPort) error {
	prog := peerFilter(peer)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_LOCK_FILTER", err)
	}
	return nil
}

// EnableSinglePort sets SO_REUSEPORT on the listening socket, so that the
// session sockets of single-port mode (NewSinglePortSocket) can bind its
// port. It works on a socket bound already (an inherited one too): the
// kernel checks the option when the next socket binds.
func (l *Listener) EnableSinglePort() error {
	rc, err := l.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_REUSEPORT", serr)
}

// maxDrain bounds the datagrams DrainSinglePort reads: a socket's queue
// holds what a client sent in microseconds, never more than a handful.
const maxDrain = 64

// DrainSinglePort reads, without waiting, the datagrams queued on a
// single-port session socket and calls fn with each (the slice is valid
// during the call only) and its source, unmapped, at most 64. The master
// calls it on its copy of the socket before the handoff (requests from
// other clients that arrived between bind and connect) and after the
// session (a request the client sent from the same port once the session
// was over, as UEFI firmware does after its size probe).
//
// With retire set it first connects the socket to its own address: the
// client's datagrams then go to the listener again, and what was queued
// before is read here. A datagram racing that connect in the kernel can
// still be queued after the read and is lost with the socket; the client
// retransmits it.
func DrainSinglePort(f *os.File, retire bool, fn func(pkt []byte, from netip.AddrPort)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var buf [MaxDatagram]byte
	var derr error
	cerr := rc.Control(func(fdp uintptr) {
		fd := int(fdp)
		if retire {
			self, err := unix.Getsockname(fd)
			if err != nil {
				derr = os.NewSyscallError("getsockname", err)
				return
			}
			if err := unix.Connect(fd, self); err != nil {
				derr = os.NewSyscallError("connect", err)
				return
			}
		}
		for range maxDrain {
			n, from, err := unix.Recvfrom(fd, buf[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC)
			if err != nil {
				if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
					derr = os.NewSyscallError("recvfrom", err)
				}
				return
			}
			if n > len(buf) {
				continue // truncated: not a request
			}
			if a, ok := fromSockaddr(from); ok {
				fn(buf[:n], a)
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	return derr
}

// MaxDatagram is the largest datagram DrainSinglePort passes on; longer
// ones are dropped (a TFTP request is at most 512 bytes by RFC 1350, and
// no client sends more than a few kilobytes).
const MaxDatagram = 65536

// SinglePortPeer returns the address a single-port session socket is
// connected to, unmapped; the zero AddrPort when it is not connected.
func SinglePortPeer(f *os.File) (netip.AddrPort, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var (
		sa   unix.Sockaddr
		perr error
	)
	if err := rc.Control(func(fd uintptr) { sa, perr = unix.Getpeername(int(fd)) }); err != nil {
		return netip.AddrPort{}, err
	}
	if errors.Is(perr, unix.ENOTCONN) {
		return netip.AddrPort{}, nil
	}
	if perr != nil {
		return netip.AddrPort{}, os.NewSyscallError("getpeername", perr)
	}
	a, _ := fromSockaddr(sa)
	return a, nil
}

// SinglePortLocal returns the address a socket is bound to, unmapped.
func SinglePortLocal(f *os.File) (netip.AddrPort, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var (
		sa   unix.Sockaddr
		lerr error
	)
	if err := rc.Control(func(fd uintptr) { sa, lerr = unix.Getsockname(int(fd)) }); err != nil {
		return netip.AddrPort{}, err
	}
	if lerr != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", lerr)
	}
	a, _ := fromSockaddr(sa)
	return a, nil
}

// fromSockaddr converts an IPv4 or IPv6 socket address, unmapped; a
// link-local IPv6 address gets its zone, named as Go's net package does.
func fromSockaddr(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), true
	case *unix.SockaddrInet6:
		a := unmap(netip.AddrFrom16(sa.Addr))
		if needsZone(a) && sa.ZoneId != 0 {
			var z zoneCache
			a = a.WithZone(z.name(int(sa.ZoneId)))
		}
		return netip.AddrPortFrom(a, uint16(sa.Port)), true
	}
	return netip.AddrPort{}, false
}
