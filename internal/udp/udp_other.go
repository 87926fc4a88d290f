//go:build !linux

package udp

import (
	"errors"
	"net/netip"
	"os"
)

// msgTrunc is 0 where truncation is not detected.
const msgTrunc = 0

// Listen is not supported on this system; see the Linux implementation.
func Listen(spec ListenSpec, family Family) ([]*Listener, error) {
	return nil, errors.ErrUnsupported
}

// FromFile is not supported on this system; see the Linux implementation.
func FromFile(f *os.File) (*Listener, error) { return nil, errors.ErrUnsupported }

// ReadRequest is not supported on this system.
func (l *Listener) ReadRequest(b []byte) (n int, peer netip.AddrPort, local netip.Addr, ifindex int, err error) {
	return 0, netip.AddrPort{}, netip.Addr{}, 0, errors.ErrUnsupported
}

// WriteTo is not supported on this system.
func (l *Listener) WriteTo(b []byte, peer netip.AddrPort, local netip.Addr) error {
	return errors.ErrUnsupported
}

// NewSessionSocket is not supported on this system; see the Linux
// implementation.
func NewSessionSocket(local netip.Addr, ports PortRange) (*os.File, netip.AddrPort, error) {
	return nil, netip.AddrPort{}, errors.ErrUnsupported
}
