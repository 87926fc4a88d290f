//go:build linux

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/lossnet"
)

// NAT is a client behind a masquerading router, in three network
// namespaces this package creates (nothing touches the caller's own):
//
//	Client ns                Router ns                         Server ns
//	198.51.100.2/24  --veth--  198.51.100.1 | 203.0.113.1  --veth--  203.0.113.2/24
//	default via .1             ip_forward, nftables masquerade
//	                           out of the server-side link
//
// The server knows no route to the client's network: it sees every request
// from 203.0.113.1 (the router), and only what the router's conntrack
// translates back reaches the client. Linux does not attach conntrack
// helpers by itself (since 4.7), so the TFTP helper is off unless
// AttachTFTPHelper is called. Addresses are from the documentation ranges
// (RFC 5737).
//
// A note for whoever merges test helpers: the data branch has a similar
// two-namespace helper with loss rules (internal/lossnet); this one adds
// the router. They could share the namespace plumbing.
type NAT struct {
	Client, Router, Server string // ip netns names
}

// The addresses of the NAT network.
var (
	NATClientAddr = netip.MustParseAddr("198.51.100.2")
	NATInsideAddr = netip.MustParseAddr("198.51.100.1") // the router, client side
	NATPublicAddr = netip.MustParseAddr("203.0.113.1")  // the router, server side: what the server sees
	NATServerAddr = netip.MustParseAddr("203.0.113.2")
)

// natPrefix starts the names of the namespaces: "fbnat-PID-N-cli", so that
// those of a test process killed before its cleanup can be removed.
const natPrefix = "fbnat-"

var natSeq atomic.Int64

// NATAvailable returns nil when NewNAT can work here, or why not.
func NATAvailable() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("no %s command in PATH", c)
		}
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("no network namespaces: %v", err)
	}
	return nil
}

// NewNAT builds the NAT network and deletes it in t.Cleanup. Where it
// cannot be built it calls Require (skip, or fail under CI).
func NewNAT(t testing.TB) *NAT {
	t.Helper()
	if err := NATAvailable(); err != nil {
		Require(t, "network namespaces and nftables ("+err.Error()+")")
	}
	ctx := context.Background()
	lossnet.Sweep(ctx, natPrefix)
	id := fmt.Sprintf("%d-%d", os.Getpid(), natSeq.Add(1))
	n := &NAT{Client: natPrefix + id + "-cli", Router: natPrefix + id + "-nat", Server: natPrefix + id + "-srv"}
	t.Cleanup(func() {
		if err := n.close(); err != nil {
			t.Errorf("removing the NAT network: %v", err)
		}
	})
	steps := [][]string{
		{"netns", "add", n.Client},
		{"netns", "add", n.Router},
		{"netns", "add", n.Server},
		{"-n", n.Router, "link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", n.Client},
		{"-n", n.Router, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", n.Server},
		{"-n", n.Client, "addr", "add", NATClientAddr.String() + "/24", "dev", "eth0"},
		{"-n", n.Router, "addr", "add", NATInsideAddr.String() + "/24", "dev", "in0"},
		{"-n", n.Router, "addr", "add", NATPublicAddr.String() + "/24", "dev", "out0"},
		{"-n", n.Server, "addr", "add", NATServerAddr.String() + "/24", "dev", "eth0"},
	}
	for _, ns := range []string{n.Client, n.Router, n.Server} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", n.Client, "link", "set", "eth0", "up"},
		[]string{"-n", n.Server, "link", "set", "eth0", "up"},
		[]string{"-n", n.Router, "link", "set", "in0", "up"},
		[]string{"-n", n.Router, "link", "set", "out0", "up"},
		[]string{"-n", n.Client, "route", "add", "default", "via", NATInsideAddr.String()},
	)
	for _, args := range steps {
		if _, err := lossnet.Run(ctx, nil, "ip", args...); err != nil {
			Require(t, "a NAT network in namespaces: "+err.Error())
		}
	}
	if _, err := lossnet.Run(ctx, nil, "ip", "netns", "exec", n.Router, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		Require(t, "IPv4 forwarding in a namespace: "+err.Error())
	}
	masq := `table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "out0" masquerade
	}
}
`
	if err := n.Nft(ctx, n.Router, masq); err != nil {
		Require(t, "nftables masquerade: "+err.Error())
	}
	return n
}

// AttachTFTPHelper makes the router attach the kernel's TFTP conntrack
// helper (nf_conntrack_tftp, with nf_nat_tftp for the translation) to
// requests to port 69: it then expects the server's reply from a new port
// and translates it back to the client.
func (n *NAT) AttachTFTPHelper(ctx context.Context) error {
	return n.Nft(ctx, n.Router, `table ip helpers {
	ct helper tftp {
		type "tftp" protocol udp;
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		udp dport 69 ct helper set "tftp"
	}
}
`)
}

// Nft loads an nftables script in namespace ns.
func (n *NAT) Nft(ctx context.Context, ns, script string) error {
	_, err := lossnet.Run(ctx, []byte(script), "ip", "netns", "exec", ns, "nft", "-f", "-")
	return err
}

// Command returns a command that runs name with args in namespace ns
// through "ip netns exec", which execs it: the process's pid is the
// command's.
func (n *NAT) Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs fn on an OS thread that joined namespace ns: the sockets fn
// creates belong to ns (lossnet.InNamespace).
func (n *NAT) Do(ns string, fn func() error) error { return lossnet.InNamespace(ns, fn) }

// close deletes the namespaces (with their links and rules).
func (n *NAT) close() error {
	return lossnet.DeleteNamespaces(n.Client, n.Router, n.Server)
}
