package udp

import (
	"fmt"
	"net"
	"net/netip"
)

// InterfaceMTU returns the MTU of the interface that owns the address
// local, for -B style block-size limits (a block fits one IP packet when
// blksize <= MTU - IP header - 8 - 4). An IPv6 zone, when present, must
// name that interface. A loopback address that is not an interface address
// (127.0.0.2) gets the loopback interface's MTU.
func InterfaceMTU(local netip.Addr) (int, error) {
	local = unmap(local)
	want := local.WithZone("")
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("interface mtu for %v: %w", local, err)
	}
	for _, ifi := range ifs {
		if !inZone(local.Zone(), ifi) {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && unmap(ip) == want {
				return ifi.MTU, nil
			}
		}
	}
	if want.IsLoopback() {
		// 127.0.0.2 and friends belong to the loopback interface through
		// its local route, not as interface addresses.
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback != 0 && inZone(local.Zone(), ifi) {
				return ifi.MTU, nil
			}
		}
	}
	return 0, fmt.Errorf("interface mtu: no interface has address %v", local)
}

// inZone reports whether the IPv6 zone (a name, an index or "") admits the
// interface ifi.
func inZone(zone string, ifi net.Interface) bool {
	if zone == "" || zone == ifi.Name {
		return true
	}
	idx, err := zoneIndex(zone)
	return err == nil && idx == ifi.Index
}
