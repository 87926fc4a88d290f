package udp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrTruncated is returned by ReadRequest and ReadPacket when a datagram
// did not fit the caller's buffer: the kernel reported MSG_TRUNC. The bytes
// that fit and the addresses are still returned, so the caller can count
// the packet or answer it.
var ErrTruncated = errors.New("datagram truncated")

// ErrNoDestination is returned by ReadRequest when the kernel gave no
// usable packet-info control message (or truncated it) and the listener is
// bound to a wildcard, so the local address of the request is unknown.
var ErrNoDestination = errors.New("no destination address for datagram")

// oobSize is the control-message buffer of a Listener: room for
// IPV6_PKTINFO and IP_PKTINFO, plus slack for options an inherited socket
// may already have enabled (timestamps and the like).
const oobSize = 256

// Listener is a listening UDP socket that reports, for every datagram, the
// local address the client sent it to.
//
// ReadRequest must be called from one goroutine at a time (it reuses a
// buffer owned by the Listener); WriteTo, SetReadDeadline, LocalAddr and
// Close are safe to call from any goroutine, concurrently with
// ReadRequest.
type Listener struct {
	conn  *net.UDPConn
	ipv6  bool // AF_INET6 socket (maybe dual-stack); else AF_INET
	local netip.AddrPort
	oob   []byte // ReadRequest's control buffer

	wmu  sync.Mutex // guards woob
	woob []byte     // WriteTo's control buffer

	zones zoneCache
}

// LocalAddr returns the address the socket is bound to, unmapped; for a
// wildcard listener it is the unspecified address ("0.0.0.0" or "::").
func (l *Listener) LocalAddr() netip.AddrPort { return l.local }

// SetReadDeadline sets the deadline of ReadRequest, as in
// net.Conn.SetReadDeadline; a deadline in the past unblocks a pending
// ReadRequest with an error satisfying errors.Is(err, os.ErrDeadlineExceeded).
func (l *Listener) SetReadDeadline(t time.Time) error { return l.conn.SetReadDeadline(t) }

// Close closes the socket; a pending ReadRequest returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (l *Listener) Close() error { return l.conn.Close() }

// File returns a duplicate of the socket's descriptor (close-on-exec), to
// hand the listening socket to another process. The caller owns and must
// close the returned file; the Listener keeps its own descriptor.
func (l *Listener) File() (*os.File, error) { return l.conn.File() }

// SyscallConn gives access to the socket's descriptor (to duplicate it for
// another process without File's side effects on the Listener's).
func (l *Listener) SyscallConn() (syscall.RawConn, error) { return l.conn.SyscallConn() }

// zoneCache maps interface indexes to names and back for IPv6 zones. It is
// consulted only for link-local addresses, and refreshes on a miss.
type zoneCache struct {
	mu    sync.Mutex
	names map[int]string
}

// name returns the zone for interface index i: the interface name when
// known, else the decimal index (which netip and net both accept).
func (z *zoneCache) name(i int) string {
	z.mu.Lock()
	defer z.mu.Unlock()
	if n, ok := z.names[i]; ok {
		return n
	}
	ifi, err := net.InterfaceByIndex(i)
	if err != nil {
		return strconv.Itoa(i)
	}
	if z.names == nil {
		z.names = make(map[int]string)
	}
	z.names[i] = ifi.Name
	return ifi.Name
}

// zoneIndex returns the interface index of an IPv6 zone, which is an
// interface name or a decimal index; "" is 0.
func zoneIndex(zone string) (int, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(zone); err == nil && n >= 0 {
		return n, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// needsZone reports whether a is an IPv6 address whose meaning depends on
// the interface.
func needsZone(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast())
}
