package neigh

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Bounds of one lookup.
const (
	// DefaultTimeout bounds the time Lookup spends: a dump of even a
	// large table takes a few milliseconds.
	DefaultTimeout = 100 * time.Millisecond
	// MaxDumpBytes bounds what one lookup reads from the kernel (about
	// 100,000 entries); a larger table is not searched past it.
	MaxDumpBytes = 8 << 20
)

// Lookup returns the link-layer address the kernel's neighbour table holds
// for ip, and false when it holds no usable entry or the table cannot be
// read (see Query for the details, and the package doc for the cost). It
// spends at most DefaultTimeout.
func Lookup(ip netip.Addr) (net.HardwareAddr, bool) {
	mac, err := Query(ip, DefaultTimeout)
	return mac, err == nil && mac != nil
}

// targetFor normalizes ip for a lookup: an IPv4-mapped IPv6 address is the
// IPv4 address, and the zone of a link-local IPv6 address (a name or an
// index) selects the interface. An unknown zone matches any interface.
func targetFor(ip netip.Addr) target {
	t := target{ip: ip.Unmap().WithZone("")}
	if z := ip.Zone(); z != "" && t.ip.Is6() {
		if i, err := strconv.ParseInt(z, 10, 32); err == nil && i > 0 {
			t.ifindex = int32(i)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			t.ifindex = int32(ifi.Index)
		}
	}
	return t
}
