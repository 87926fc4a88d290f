package neigh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The parser's copies of the kernel's values match x/sys/unix.
func TestConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"AF_INET", afInet, unix.AF_INET},
		{"AF_INET6", afInet6, unix.AF_INET6},
		{"NLMSG_HDRLEN", nlmsgHdrLen, unix.NLMSG_HDRLEN},
		{"SizeofNdMsg", ndmsgLen, unix.SizeofNdMsg},
		{"SizeofRtAttr", rtaHdrLen, unix.SizeofRtAttr},
		{"NLMSG_ERROR", nlmsgError, unix.NLMSG_ERROR},
		{"NLMSG_DONE", nlmsgDone, unix.NLMSG_DONE},
		{"RTM_NEWNEIGH", rtmNewNeigh, unix.RTM_NEWNEIGH},
		{"RTM_GETNEIGH", rtmGetNeigh, unix.RTM_GETNEIGH},
		{"NLM_F_REQUEST", nlmFRequest, unix.NLM_F_REQUEST},
		{"NLM_F_DUMP", nlmFDump, unix.NLM_F_DUMP},
		{"NDA_DST", ndaDst, unix.NDA_DST},
		{"NDA_LLADDR", ndaLladdr, unix.NDA_LLADDR},
		{"NUD_REACHABLE", nudReachable, unix.NUD_REACHABLE},
		{"NUD_STALE", nudStale, unix.NUD_STALE},
		{"NUD_DELAY", nudDelay, unix.NUD_DELAY},
		{"NUD_PROBE", nudProbe, unix.NUD_PROBE},
		{"NUD_PERMANENT", nudPermanent, unix.NUD_PERMANENT},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// The kernel keeps no neighbour entry for loopback addresses: absent, and
// no error (the dump itself works).
func TestQueryLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		mac, err := Query(netip.MustParseAddr(a), time.Second)
		if err != nil || mac != nil {
			t.Errorf("Query(%s) = %v, %v; want nil, nil", a, mac, err)
		}
		if _, ok := Lookup(netip.MustParseAddr(a)); ok {
			t.Errorf("Lookup(%s) found an entry", a)
		}
	}
	if mac, err := Query(netip.Addr{}, time.Second); mac != nil || err != nil {
		t.Errorf("Query(invalid) = %v, %v", mac, err)
	}
}

// An expired deadline is an error, not a hang.
func TestQueryDeadline(t *testing.T) {
	_, err := dump(afInet, targetFor(netip.MustParseAddr("192.0.2.1")), time.Now().Add(-time.Second))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dump past its deadline: %v", err)
	}
}

// TestQueryVeth builds a veth pair between this network namespace and a new
// one, has the peer send one UDP datagram to us (nothing needs to listen:
// the ARP or NDP exchange before it is what matters), then finds the
// peer's MAC through netlink and, for IPv4, /proc/net/arp. Needs root and
// iproute2.
func TestQueryVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace and a veth pair")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command:", err)
	}
	id := os.Getpid() % 100000
	ns, here, there := fmt.Sprintf("fbtftp-neigh-%d", id), fmt.Sprintf("fbn%da", id), fmt.Sprintf("fbn%db", id)
	peerMAC := "02:00:5e:10:00:2a"
	// Benchmarking (RFC 2544) and unique-local addresses, on a veth only.
	local4, peer4 := "198.18.251.1/30", netip.MustParseAddr("198.18.251.2")
	local6, peer6 := "fd00:fb7f:ee::1/64", netip.MustParseAddr("fd00:fb7f:ee::2")

	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("ip %s: %v: %s (no network namespaces here?)", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", here, "type", "veth", "peer", "name", there)
	t.Cleanup(func() { exec.Command("ip", "link", "del", here).Run() }) // gone with the namespace, normally
	ip("link", "set", there, "netns", ns)
	ip("-n", ns, "link", "set", there, "address", peerMAC)
	ip("-n", ns, "addr", "add", strings.Replace(local4, ".1/", ".2/", 1), "dev", there)
	ip("-n", ns, "addr", "add", strings.Replace(local6, "::1/", "::2/", 1), "dev", there, "nodad")
	ip("-n", ns, "link", "set", there, "up")
	ip("addr", "add", local4, "dev", here)
	ip("addr", "add", local6, "dev", here, "nodad")
	ip("link", "set", here, "up")

	// The peer speaks first, as a TFTP client does: its ARP request or
	// neighbour solicitation for our address leaves an entry for it. Without
	// bash (for its /dev/udp), we send to the peer instead.
	_, bashErr := exec.LookPath("bash")
	for _, peer := range []netip.Addr{peer4, peer6} {
		t.Run(peer.String(), func(t *testing.T) {
			if mac, err := Query(peer, time.Second); mac != nil || err != nil {
				t.Fatalf("before any traffic: %v, %v", mac, err)
			}
			send := func() {
				c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(peer, 9)))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write([]byte("neigh")) // queued until the peer is resolved
			}
			if bashErr == nil {
				self := strings.SplitN(local4, "/", 2)[0]
				if peer.Is6() {
					self = strings.SplitN(local6, "/", 2)[0]
				}
				send = func() {
					script := "echo neigh > /dev/udp/" + self + "/9"
					if out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c", script).CombinedOutput(); err != nil {
						t.Fatalf("peer send: %v: %s", err, out)
					}
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				send()
				mac, err := Query(peer, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if mac != nil {
					if mac.String() != peerMAC {
						t.Fatalf("Query(%s) = %s, want %s", peer, mac, peerMAC)
					}
					break
				}
				if time.Now().After(deadline) {
					out, _ := exec.Command("ip", "neigh", "show", "dev", here).CombinedOutput()
					t.Fatalf("no entry for %s after 10s; ip neigh:\n%s", peer, out)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if mac, ok := Lookup(peer); !ok || mac.String() != peerMAC {
				t.Errorf("Lookup(%s) = %v, %v", peer, mac, ok)
			}
			if ifi, err := net.InterfaceByName(here); err == nil && peer.Is6() {
				if mac, ok := Lookup(peer.WithZone(here)); !ok || mac.String() != peerMAC {
					t.Errorf("Lookup(%s) = %v, %v", peer.WithZone(here), mac, ok)
				}
				if _, ok := Lookup(peer.WithZone(fmt.Sprint(ifi.Index + 1000))); ok {
					t.Errorf("Lookup(%s%%%d) found an entry on another interface", peer, ifi.Index+1000)
				}
			}
			if peer.Is4() {
				if mac, ok := readARP(peer); !ok || mac.String() != peerMAC {
					t.Errorf("readARP(%s) = %v, %v", peer, mac, ok)
				}
			}
		})
	}
}

// BenchmarkQuery measures one lookup of an absent address: a whole dump of
// this host's IPv4 table.
func BenchmarkQuery(b *testing.B) {
	ip := netip.MustParseAddr("192.0.2.254")
	for b.Loop() {
		if _, err := Query(ip, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
