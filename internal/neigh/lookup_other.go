//go:build !linux

package neigh

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// Query is not supported on this system: there is no neighbour table to
// read. See the Linux implementation.
func Query(ip netip.Addr, timeout time.Duration) (net.HardwareAddr, error) {
	return nil, errors.ErrUnsupported
}
