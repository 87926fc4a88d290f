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

// NewSinglePortSocket is not supported on this system.
func NewSinglePortSocket(local, peer netip.AddrPort) (*os.File, error) {
	return nil, errors.ErrUnsupported
}

// EnableSinglePort is not supported on this system.
func (l *Listener) EnableSinglePort() error { return errors.ErrUnsupported }

// MaxDatagram is the largest datagram DrainSinglePort passes on.
const MaxDatagram = 65536

// DrainSinglePort is not supported on this system.
func DrainSinglePort(f *os.File, retire bool, fn func(pkt []byte, from netip.AddrPort)) error {
	return errors.ErrUnsupported
}

// SinglePortPeer is not supported on this system.
func SinglePortPeer(f *os.File) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.ErrUnsupported
}

// SinglePortLocal is not supported on this system.
func SinglePortLocal(f *os.File) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.ErrUnsupported
}
