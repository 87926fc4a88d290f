package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Values from Linux's uapi headers (stable ABI), kept here so that the
// parser is portable and fuzzable anywhere; netlink_linux_test.go checks
// them against golang.org/x/sys/unix.
const (
	afInet  = 2  // AF_INET
	afInet6 = 10 // AF_INET6

	nlmsgHdrLen = 16 // struct nlmsghdr
	ndmsgLen    = 12 // struct ndmsg
	rtaHdrLen   = 4  // struct rtattr

	nlmsgError  = 0x2  // NLMSG_ERROR
	nlmsgDone   = 0x3  // NLMSG_DONE
	rtmNewNeigh = 0x1c // RTM_NEWNEIGH
	rtmGetNeigh = 0x1e // RTM_GETNEIGH

	nlmFRequest = 0x1   // NLM_F_REQUEST
	nlmFDump    = 0x300 // NLM_F_DUMP (NLM_F_ROOT|NLM_F_MATCH)

	ndaDst    = 1 // NDA_DST
	ndaLladdr = 2 // NDA_LLADDR

	nlaTypeMask = 0x3fff // attribute type without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// NUD_* states (linux/neighbour.h) in which an entry's link-layer address
// is the neighbour's: resolved and either confirmed, being re-confirmed, or
// configured. INCOMPLETE and FAILED have no valid address; NOARP entries
// (loopback, point-to-point, multicast) have a made-up one.
const (
	nudReachable = 0x02
	nudStale     = 0x04
	nudDelay     = 0x08
	nudProbe     = 0x10
	nudPermanent = 0x80

	nudValid = nudReachable | nudStale | nudDelay | nudProbe | nudPermanent
)

// errMalformed reports a netlink message that breaks its own framing.
var errMalformed = errors.New("neigh: malformed netlink message")

// appendRequest appends an RTM_GETNEIGH dump request for family:
//
//	struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
//	struct ndmsg    { u8 family; u8 pad1; u16 pad2; s32 ifindex; u16 state; u8 flags; u8 type; }
//
// Everything but the family is zero, as the kernel's strict checking
// (NETLINK_GET_STRICT_CHK) wants for a dump.
func appendRequest(b []byte, family uint8, seq uint32) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, nlmsgHdrLen+ndmsgLen)
	b = ne.AppendUint16(b, rtmGetNeigh)
	b = ne.AppendUint16(b, nlmFRequest|nlmFDump)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0) // the kernel fills in our port id
	b = append(b, family, 0, 0, 0)
	b = ne.AppendUint32(b, 0) // ifindex: every interface
	b = ne.AppendUint16(b, 0)
	return append(b, 0, 0)
}

// target is what a lookup looks for: an address (unmapped, no zone) and,
// for a zoned IPv6 address, the interface index it must be on (0: any).
type target struct {
	ip      netip.Addr
	ifindex int32
}

// parseDump walks the netlink messages of one datagram of the answer to
// the dump request seq. It returns the link-layer address of the first
// usable entry for t, or done when the dump ended (NLMSG_DONE) without one.
// Messages of other sequence numbers and types are skipped; a message or
// attribute whose length does not fit, a short ndmsg, or an error reported
// by the kernel is an error. The returned address does not alias b.
func parseDump(b []byte, seq uint32, t target) (mac net.HardwareAddr, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return nil, false, errMalformed
		}
		n := ne.Uint32(b[0:4])
		if n < nlmsgHdrLen || uint64(n) > uint64(len(b)) {
			return nil, false, errMalformed
		}
		typ, mseq := ne.Uint16(b[4:6]), ne.Uint32(b[8:12])
		body := b[nlmsgHdrLen:n]
		b = b[min(uint64(align4(n)), uint64(len(b))):]
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgDone, nlmsgError:
			// Both carry an int32 errno, negative on failure (0 for the
			// ACK form of NLMSG_ERROR, which a dump does not send).
			if len(body) < 4 {
				return nil, false, errMalformed
			}
			if e := int32(ne.Uint32(body[0:4])); e < 0 {
				return nil, false, fmt.Errorf("neigh: netlink: %w", syscall.Errno(-e))
			}
			if typ == nlmsgDone {
				return nil, true, nil
			}
		case rtmNewNeigh:
			mac, err := parseNeigh(body, t)
			if err != nil || mac != nil {
				return mac, false, err
			}
		}
	}
	return nil, false, nil
}

// parseNeigh returns the link-layer address of one RTM_NEWNEIGH message
// body when it is a usable entry for t, else nil.
func parseNeigh(b []byte, t target) (net.HardwareAddr, error) {
	ne := binary.NativeEndian
	if len(b) < ndmsgLen {
		return nil, errMalformed
	}
	family, ifindex, state := b[0], int32(ne.Uint32(b[4:8])), ne.Uint16(b[8:10])
	var dst, lladdr []byte
	for a := b[ndmsgLen:]; len(a) > 0; {
		if len(a) < rtaHdrLen {
			return nil, errMalformed
		}
		n := int(ne.Uint16(a[0:2]))
		if n < rtaHdrLen || n > len(a) {
			return nil, errMalformed
		}
		switch ne.Uint16(a[2:4]) & nlaTypeMask {
		case ndaDst:
			dst = a[rtaHdrLen:n]
		case ndaLladdr:
			lladdr = a[rtaHdrLen:n]
		}
		a = a[min(align4(uint32(n)), uint32(len(a))):]
	}
	if state&nudValid == 0 || !usable(lladdr) {
		return nil, nil
	}
	if t.ifindex != 0 && ifindex != t.ifindex {
		return nil, nil
	}
	ip, ok := netip.AddrFromSlice(dst)
	switch {
	case !ok, ip != t.ip:
		return nil, nil
	case family == afInet && !ip.Is4(), family == afInet6 && !ip.Is6():
		return nil, nil
	}
	return net.HardwareAddr(append([]byte(nil), lladdr...)), nil
}

// align4 rounds n up to the netlink alignment (NLMSG_ALIGN, RTA_ALIGN).
func align4(n uint32) uint32 { return (n + 3) &^ 3 }
