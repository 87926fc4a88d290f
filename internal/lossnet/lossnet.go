// Package lossnet builds a lossy network for tests and benchmarks: two
// network namespaces, one for a server and one for its client, joined by a
// veth pair, with nftables rules that drop a chosen fraction of the UDP
// packets arriving in each namespace. Nothing touches the caller's own
// namespace, so Close (deleting the two namespaces) removes everything,
// nftables rules included.
//
// Packets are dropped at the input hook of the receiving side: a drop at
// the output hook would return EPERM to the sender instead of losing the
// packet silently, and netem (the usual tool) is not in every kernel. Both
// veth ends have generic segmentation off (gso_max_segs 1), so a UDP GSO
// burst is split into datagrams before it crosses the link and each
// datagram is dropped, or not, on its own, as on a real wire.
//
// It needs root, network namespaces and the ip (iproute2) and nft
// (nftables) commands; Available says why not when they are missing.
// Processes run in a namespace through Net.Command (ip netns exec); Go code
// runs there through Net.Do, which creates its sockets on a thread that
// joined the namespace.
package lossnet

import (
	"errors"
	"net/netip"
)

// ErrUnavailable is wrapped by the errors of Available and New when this
// system cannot build the network.
var ErrUnavailable = errors.New("lossnet: unavailable")

// The addresses of the two ends (TEST-NET-1, RFC 5737); each namespace has
// its own, so several Nets coexist.
var (
	ServerAddr = netip.MustParseAddr("192.0.2.1")
	ClientAddr = netip.MustParseAddr("192.0.2.2")
)

// Side names one end of the link, for SetLoss and Drops.
type Side int

// The two sides: packets arriving at the server, packets arriving at the
// client.
const (
	ToServer Side = iota
	ToClient
)

func (s Side) String() string {
	if s == ToServer {
		return "to-server"
	}
	return "to-client"
}
