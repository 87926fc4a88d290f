package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SessionConn is the packet conn of one transfer, over a session socket
// made by NewSessionSocket. ReadPacket must be called from one goroutine
// at a time; WritePacket, WriteBatch, Interrupt, LocalAddr and Close are
// safe from any goroutine. ReadPacket and WritePacket do not allocate.
//
// On Linux it reads with blocking system calls on its own descriptor, not
// through Go's netpoller: a worker serves one session, so its goroutine
// can wait in recvmsg. That is one system call per received packet where
// the netpoller needs three (a recvmsg that finds nothing, epoll_wait,
// the recvmsg that reads); docs/benchmarks.md has the measurements.
// Deadlines become SO_RCVTIMEO, set only when the wait changes by more
// than an eighth, so a read may return up to an eighth of its wait after
// the deadline. Interrupt and Close wake a blocked read with shutdown(2).
type SessionConn struct {
	fd    int // owned; closed by Close
	local netip.AddrPort
	v6    bool // AF_INET6 socket

	// rw is read-held by every system call on fd and write-held by Close
	// while it closes fd, so no call ever uses a closed (or reused) fd.
	rw          sync.RWMutex
	closed      atomic.Bool
	interrupted atomic.Bool

	// Reader state (one reader at a time).
	timeo time.Duration // SO_RCVTIMEO in force; 0: none
	rsa   unix.RawSockaddrAny
	rmsg  unix.Msghdr
	riov  unix.Iovec
	zones zoneCache

	// Writer state, under wmu.
	wmu    sync.Mutex
	wsa    unix.RawSockaddrInet6 // large enough for either family
	wsaLen uint32
	wto    netip.AddrPort // the address wsa holds
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec
	cmsgs  []byte
	noGSO  atomic.Bool // UDP GSO failed once: batches go out with sendmmsg
}

// maxSegments is the most datagrams one UDP GSO send may carry
// (UDP_MAX_SEGMENTS in the kernel, 64 before Linux 6.8).
const maxSegments = 64

// maxGSOBytes is the most payload one UDP GSO send may carry: one IP
// datagram's worth.
const maxGSOBytes = 65507

// NewSessionConn wraps a UDP socket in a SessionConn. It duplicates the
// descriptor (close-on-exec, in blocking mode): f stays owned by the
// caller, who should close it once NewSessionConn returns; Close closes
// only the SessionConn's own descriptor.
func NewSessionConn(f *os.File) (*SessionConn, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("session conn from %s: %w", f.Name(), err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("session conn from %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, fmt.Errorf("session conn from %s: %w", f.Name(), os.NewSyscallError("fcntl", derr))
	}
	c, err := newSessionConn(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("session conn from %s: %w", f.Name(), err)
	}
	return c, nil
}

// newSessionConn checks that fd is a UDP socket, makes it blocking (the
// flag belongs to the open file, which the master no longer uses) and
// builds the conn around it.
func newSessionConn(fd int) (*SessionConn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, os.NewSyscallError("getsockopt SO_TYPE", err)
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || typ != unix.SOCK_DGRAM || proto != unix.IPPROTO_UDP {
		return nil, errors.New("not a UDP socket")
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	c := &SessionConn{fd: fd}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		c.local = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		c.v6 = true
		a := netip.AddrFrom16(sa.Addr)
		if needsZone(a) && sa.ZoneId != 0 {
			a = a.WithZone(c.zones.name(int(sa.ZoneId)))
		}
		c.local = unmapAddrPort(netip.AddrPortFrom(a, uint16(sa.Port)))
	default:
		return nil, errors.New("not an IP socket")
	}
	c.rmsg.Name = (*byte)(unsafe.Pointer(&c.rsa))
	c.rmsg.Iov = &c.riov
	c.rmsg.SetIovlen(1)
	return c, nil
}

// ReadPacket reads one datagram into b, waiting until deadline (the zero
// time means no deadline). It returns the length and the sender, unmapped.
// When the deadline passes the error satisfies
// errors.Is(err, os.ErrDeadlineExceeded); after Interrupt it is
// ErrInterrupted, even with datagrams waiting; after Close it satisfies
// errors.Is(err, net.ErrClosed). If the datagram was longer than b it
// returns n == len(b), the sender and ErrTruncated.
func (c *SessionConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	c.rw.RLock()
	defer c.rw.RUnlock()
	for {
		if c.closed.Load() {
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		if c.interrupted.Load() {
			return 0, netip.AddrPort{}, ErrInterrupted
		}
		if err := c.setTimeout(deadline); err != nil {
			return 0, netip.AddrPort{}, err
		}
		if len(b) > 0 {
			c.riov.Base = &b[0]
		} else {
			c.riov.Base = nil
		}
		c.riov.SetLen(len(b))
		c.rmsg.Namelen = unix.SizeofSockaddrAny
		c.rmsg.Flags = 0
		r, _, errno := syscall.Syscall(unix.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.rmsg)), 0)
		switch errno {
		case 0:
		case unix.EINTR, unix.EAGAIN:
			continue // a signal, or SO_RCVTIMEO: look at the deadline again
		default:
			if c.closed.Load() {
				return 0, netip.AddrPort{}, net.ErrClosed
			}
			return 0, netip.AddrPort{}, os.NewSyscallError("recvmsg", errno)
		}
		n := int(r)
		if c.rmsg.Namelen == 0 {
			// No sender: the socket was shut down (Interrupt or Close).
			if c.closed.Load() {
				return 0, netip.AddrPort{}, net.ErrClosed
			}
			return 0, netip.AddrPort{}, ErrInterrupted
		}
		from := c.sender()
		if c.rmsg.Flags&unix.MSG_TRUNC != 0 {
			return n, from, ErrTruncated
		}
		return n, from, nil
	}
}

// setTimeout makes the next recvmsg return by about deadline: it sets
// SO_RCVTIMEO when the wait left differs from the one in force by more than
// an eighth (so a read may end up to an eighth late, never early without
// looping), and returns os.ErrDeadlineExceeded once deadline has passed.
func (c *SessionConn) setTimeout(deadline time.Time) error {
	var want time.Duration
	if !deadline.IsZero() {
		want = time.Until(deadline)
		if want < time.Microsecond {
			return os.ErrDeadlineExceeded
		}
		if c.timeo != 0 && c.timeo >= want-want/8 && c.timeo <= want+want/8 {
			return nil
		}
	} else if c.timeo == 0 {
		return nil
	}
	tv := unix.NsecToTimeval(int64(want))
	if want > 0 && tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1
	}
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt SO_RCVTIMEO", err)
	}
	c.timeo = want
	return nil
}

// sender decodes the address recvmsg filled in, unmapped, with the zone
// named for link-local IPv6.
func (c *SessionConn) sender() netip.AddrPort {
	switch c.rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&c.rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&c.rsa))
		a := netip.AddrFrom16(sa.Addr)
		if needsZone(a) && sa.Scope_id != 0 {
			a = a.WithZone(c.zones.name(int(sa.Scope_id)))
		}
		return unmapAddrPort(netip.AddrPortFrom(a, ntohs(sa.Port)))
	}
	return netip.AddrPort{}
}

// ntohs reads a port in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return binary.BigEndian.Uint16(b[:])
}

// setDest encodes to in c.wsa for the socket's family. c.wmu must be held.
func (c *SessionConn) setDest(to netip.AddrPort) error {
	if to == c.wto && c.wsaLen != 0 {
		return nil
	}
	to = unmapAddrPort(to)
	a := to.Addr()
	c.wsa = unix.RawSockaddrInet6{}
	port := (*[2]byte)(unsafe.Pointer(&c.wsa.Port))
	binary.BigEndian.PutUint16(port[:], to.Port())
	switch {
	case !c.v6 && a.Is4():
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&c.wsa))
		sa.Family = unix.AF_INET
		sa.Addr = a.As4()
		c.wsaLen = unix.SizeofSockaddrInet4
	case c.v6 && a.IsValid():
		c.wsa.Family = unix.AF_INET6
		c.wsa.Addr = a.As16() // IPv4-mapped for an IPv4 peer
		if z := a.Zone(); z != "" {
			idx, err := zoneIndex(z)
			if err != nil {
				return fmt.Errorf("write to %v: %w", to, err)
			}
			c.wsa.Scope_id = uint32(idx)
		}
		c.wsaLen = unix.SizeofSockaddrInet6
	default:
		c.wsaLen = 0
		return fmt.Errorf("write to %v: address family does not match the socket's", to)
	}
	c.wto = to
	return nil
}

// WritePacket sends b to the address to.
func (c *SessionConn) WritePacket(b []byte, to netip.AddrPort) error {
	c.rw.RLock()
	defer c.rw.RUnlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.setDest(to); err != nil {
		return err
	}
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		_, _, errno := syscall.Syscall6(unix.SYS_SENDTO, uintptr(c.fd), uintptr(p), uintptr(len(b)), 0,
			uintptr(unsafe.Pointer(&c.wsa)), uintptr(c.wsaLen))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("sendto", errno)
	}
}

// WriteBatch sends the datagrams laid out back to back in buf, each seg
// bytes long but the last, which may be shorter, to the address to, in one
// system call where it can: sendmmsg of UDP GSO messages (UDP_SEGMENT,
// Linux 4.18, up to 64 datagrams and 64 KiB each), or of one message per
// datagram where GSO does not work (an older kernel, a datagram larger
// than the path MTU, an IPsec route). It does not allocate once its
// arrays have grown to the batch size.
func (c *SessionConn) WriteBatch(buf []byte, seg int, to netip.AddrPort) error {
	if seg <= 0 {
		return fmt.Errorf("write batch: segment size %d", seg)
	}
	if len(buf) <= seg {
		return c.WritePacket(buf, to)
	}
	c.rw.RLock()
	defer c.rw.RUnlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.setDest(to); err != nil {
		return err
	}
	if !c.noGSO.Load() {
		err := c.sendmmsg(buf, seg, true)
		if err == nil {
			return nil
		}
		if !gsoUnsupported(err) {
			return err
		}
		c.noGSO.Store(true)
	}
	return c.sendmmsg(buf, seg, false)
}

// gsoUnsupported reports whether a UDP GSO send failed because GSO cannot
// be used here (rather than for a reason a plain send would share).
func gsoUnsupported(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOPROTOOPT) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EMSGSIZE)
}

// sendmmsg sends buf as datagrams of seg bytes: with gso, messages of up
// to maxSegments datagrams and maxGSOBytes, each with a UDP_SEGMENT control
// message; without, one message per datagram. c.wmu must be held.
func (c *SessionConn) sendmmsg(buf []byte, seg int, gso bool) error {
	per := 1
	if gso {
		per = max(1, min(maxSegments, maxGSOBytes/seg))
	}
	chunk := per * seg
	nmsg := (len(buf) + chunk - 1) / chunk
	c.grow(nmsg)
	space := unix.CmsgSpace(2)
	for i := range nmsg {
		part := buf[i*chunk : min(len(buf), (i+1)*chunk)]
		iov := &c.iovs[i]
		iov.Base = &part[0]
		iov.SetLen(len(part))
		h := &c.msgs[i].Hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&c.wsa)), Namelen: c.wsaLen, Iov: iov}
		h.SetIovlen(1)
		c.msgs[i].Len = 0
		if gso && len(part) > seg {
			cm := c.cmsgs[i*space : (i+1)*space]
			clear(cm)
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&cm[0]))
			ch.Level, ch.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			ch.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(cm[unix.CmsgLen(0):], uint16(seg))
			h.Control = &cm[0]
			h.SetControllen(space)
		}
	}
	for sent := 0; sent < nmsg; {
		r, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&c.msgs[sent])),
			uintptr(nmsg-sent), 0, 0, 0)
		switch errno {
		case 0:
			sent += int(r)
			continue
		case unix.EINTR:
			continue
		}
		if sent > 0 && gso {
			// Some went out with GSO: send the rest without.
			return c.sendmmsg(buf[sent*chunk:], seg, false)
		}
		return os.NewSyscallError("sendmmsg", errno)
	}
	return nil
}

// grow makes room for n messages. c.wmu must be held.
func (c *SessionConn) grow(n int) {
	if len(c.msgs) >= n {
		return
	}
	c.msgs = make([]unix.Mmsghdr, n)
	c.iovs = make([]unix.Iovec, n)
	c.cmsgs = make([]byte, n*unix.CmsgSpace(2))
}

// LocalAddr returns the address the socket is bound to, unmapped.
func (c *SessionConn) LocalAddr() netip.AddrPort { return c.local }

// Interrupt makes a blocked ReadPacket, and every later one, return
// ErrInterrupted promptly (for shutdown or a cancelled context).
// WritePacket keeps working, so a final ERROR can still be sent. It is safe
// to call from any goroutine, more than once.
func (c *SessionConn) Interrupt() {
	c.interrupted.Store(true)
	c.rw.RLock()
	defer c.rw.RUnlock()
	if !c.closed.Load() {
		// On an unconnected UDP socket shutdown returns ENOTCONN, but it
		// marks the socket shut for reading and wakes its readers.
		_ = unix.Shutdown(c.fd, unix.SHUT_RD)
	}
}

// Close closes the socket; a blocked ReadPacket returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (c *SessionConn) Close() error {
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR) // wake blocked calls
	c.rw.Lock()
	defer c.rw.Unlock()
	if err := unix.Close(c.fd); err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}
