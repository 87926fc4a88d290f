package tmpl

import (
	"net/netip"
	"path"
	"strings"
)

// PxelinuxCandidates returns the names pxelinux tries, in order, under
// pxelinux.cfg/ for a client (after the UUID, which TFTP servers never
// learn): "01-" and the MAC in lower-case hex joined by dashes, then the
// IPv4 address in upper-case hex shortened one digit at a time
// ("C0A80001", "C0A8000", ..., "C"), then "default". An empty or invalid
// mac, or an ip that is not IPv4, leaves its names out.
func PxelinuxCandidates(mac, ip string) []string {
	var names []string
	if hw, ok := parseMAC(mac); ok {
		names = append(names, pxeMAC(hw))
	}
	if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is4() {
		h := IPHex(a)
		for n := len(h); n > 0; n-- {
			names = append(names, h[:n])
		}
	}
	return append(names, "default")
}

// MACFromPxelinux returns the MAC ("aa:bb:cc:dd:ee:ff") in a pxelinux
// config name such as "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff" (any directory,
// any case), and whether name is one. It is how a server learns the MAC of
// a pxelinux client, since TFTP does not carry it.
func MACFromPxelinux(name string) (string, bool) {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	rest, ok := strings.CutPrefix(base, "01-")
	if !ok || len(rest) != 17 || strings.Count(rest, "-") != 5 {
		return "", false
	}
	hw, ok := parseMAC(rest)
	if !ok {
		return "", false
	}
	return hw.String(), true
}
