// Package udp owns every UDP socket fbtftp-go touches: the master's
// listening sockets, the per-session sockets it hands to workers, and the
// packet conn a worker's transfer engine reads and writes.
//
// Addresses cross this package's boundary as [netip.AddrPort] values,
// always unmapped: an IPv4 client seen on a dual-stack IPv6 socket is
// reported as an IPv4 address, and IPv4 addresses given to this package are
// mapped back as needed when the socket is AF_INET6.
//
// The listening side reads requests with recvmsg and IP_PKTINFO /
// IPV6_RECVPKTINFO so that every request carries the local address the
// client talked to; the master binds the session socket to exactly that
// address, so the client sees every reply come from the address it used
// (RFC 1350 §4 identifies a transfer by the address/port pairs).
//
// Socket-level code is Linux-only (files ending in _linux.go); on other
// systems the constructors return [errors.ErrUnsupported] so that the tree
// still builds and vets.
package udp
