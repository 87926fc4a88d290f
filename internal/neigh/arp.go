package neigh

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ARPFile is the kernel's IPv4 neighbour table in text form (procfs).
const ARPFile = "/proc/net/arp"

// Flags of /proc/net/arp entries (linux/if_arp.h).
const (
	atfCom  = 0x02 // completed entry: the hardware address is known
	atfPubl = 0x08 // published (proxy ARP) entry: not a neighbour's address
)

// maxARPLine bounds one line of /proc/net/arp; the kernel's lines are
// under 100 bytes.
const maxARPLine = 512

// parseARP finds ip in the text of /proc/net/arp:
//
//	IP address       HW type     Flags       HW address            Mask     Device
//	192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
//
// It skips the header, incomplete entries (no ATF_COM flag, e.g. flags
// 0x0), proxy entries, all-zero addresses and any line it cannot parse, and
// reads at most limit bytes. ip must be an IPv4 address.
func parseARP(r io.Reader, ip netip.Addr, limit int64) (net.HardwareAddr, bool) {
	if !ip.Is4() {
		return nil, false
	}
	sc := bufio.NewScanner(io.LimitReader(r, limit))
	sc.Buffer(make([]byte, 0, maxARPLine), maxARPLine)
	want := ip.String()
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != want {
			continue
		}
		flags, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 32)
		if err != nil || flags&atfCom == 0 || flags&atfPubl != 0 {
			continue
		}
		mac, err := net.ParseMAC(f[3])
		if err != nil || !usable(mac) {
			continue
		}
		return mac, true
	}
	return nil, false
}

// usable reports whether mac is a real link-layer address: not empty and
// not all zeros (what the kernel shows for entries without one).
func usable(mac []byte) bool {
	return len(mac) > 0 && !bytes.Equal(mac, make([]byte, len(mac)))
}
