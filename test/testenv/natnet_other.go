//go:build !linux

package testenv

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"testing"
)

// NAT is a client behind a masquerading router in network namespaces;
// Linux only (see natnet_linux.go).
type NAT struct {
	Client, Router, Server string
}

// The addresses of the NAT network.
var (
	NATClientAddr = netip.MustParseAddr("198.51.100.2")
	NATInsideAddr = netip.MustParseAddr("198.51.100.1")
	NATPublicAddr = netip.MustParseAddr("203.0.113.1")
	NATServerAddr = netip.MustParseAddr("203.0.113.2")
)

var errNoNAT = errors.New("network namespaces are Linux only")

// NATAvailable says why NewNAT cannot work here.
func NATAvailable() error { return errNoNAT }

// NewNAT calls Require: there are no network namespaces here.
func NewNAT(t testing.TB) *NAT {
	t.Helper()
	Require(t, "network namespaces (Linux only)")
	return nil
}

// AttachTFTPHelper is not supported here.
func (n *NAT) AttachTFTPHelper(ctx context.Context) error { return errNoNAT }

// Nft is not supported here.
func (n *NAT) Nft(ctx context.Context, ns, script string) error { return errNoNAT }

// Command is not supported here.
func (n *NAT) Command(ns, name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// Do is not supported here.
func (n *NAT) Do(ns string, fn func() error) error { return errNoNAT }
