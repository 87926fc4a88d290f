package udp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPort is the TFTP service port (RFC 1350 §4), used when
// ParseListenAddress is given an empty default port.
const DefaultPort = "tftp"

// tftpPort is the numeric value of DefaultPort, used when the services
// database has no "tftp" entry (as in.tftpd does).
const tftpPort = 69

// Family restricts the address families a listener uses; it carries
// in.tftpd's -4 and -6 flags.
type Family uint8

const (
	// AnyFamily uses IPv4 and IPv6 (the default).
	AnyFamily Family = iota
	// IPv4Only uses IPv4 only (in.tftpd -4).
	IPv4Only
	// IPv6Only uses IPv6 only (in.tftpd -6).
	IPv6Only
)

// String returns "any", "ipv4" or "ipv6".
func (f Family) String() string {
	switch f {
	case AnyFamily:
		return "any"
	case IPv4Only:
		return "ipv4"
	case IPv6Only:
		return "ipv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// allows reports whether f admits the address a.
func (f Family) allows(a netip.Addr) bool {
	switch f {
	case IPv4Only:
		return a.Is4()
	case IPv6Only:
		return a.Is6()
	}
	return true
}

// ListenSpec is a parsed listen address: what in.tftpd's
// -a/--address [addr][:port] says.
type ListenSpec struct {
	// Addrs lists the local addresses to bind, unmapped, at most one per
	// family. It is empty for the wildcard, which means every IPv4 and
	// IPv6 address. The address "0.0.0.0" means every IPv4 address, and
	// "::" every IPv6 address (plus IPv4 through a dual-stack socket
	// unless the family is IPv6Only).
	Addrs []netip.Addr
	// Port is the UDP port; 0 asks the kernel for an ephemeral port.
	Port uint16
}

// IsWildcard reports whether s names no particular address.
func (s ListenSpec) IsWildcard() bool { return len(s.Addrs) == 0 }

// String formats s in the -a syntax, listing every address.
func (s ListenSpec) String() string {
	port := strconv.Itoa(int(s.Port))
	if s.IsWildcard() {
		return ":" + port
	}
	parts := make([]string, len(s.Addrs))
	for i, a := range s.Addrs {
		parts[i] = netip.AddrPortFrom(a, s.Port).String()
	}
	return strings.Join(parts, ",")
}

// ParseListenAddress parses in.tftpd's -a/--address argument,
// "[addr][:port]". An empty addr is the wildcard; a numeric IPv6 address
// followed by a port must be enclosed in brackets ("[::1]:69"), as in.tftpd
// requires. A bare IPv6 address without a port ("::1", "fe80::1%eth0") is
// accepted too, as an extension: the whole string is taken as the address.
// Names are resolved with net.DefaultResolver, keeping the first IPv4 and
// the first IPv6 address as in.tftpd does. The port is a number or a
// service name ("tftp" means 69 even without /etc/services); an empty port
// means defaultPort, and an empty defaultPort means DefaultPort.
func ParseListenAddress(s, defaultPort string) (ListenSpec, error) {
	host, port, bracketed, err := splitHostPort(s)
	if err != nil {
		return ListenSpec{}, err
	}
	if port == "" {
		port = defaultPort
	}
	if port == "" {
		port = DefaultPort
	}
	var spec ListenSpec
	if spec.Port, err = parsePort(port); err != nil {
		return ListenSpec{}, err
	}
	if host == "" {
		return spec, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		spec.Addrs = []netip.Addr{unmap(a)}
		return spec, nil
	}
	if bracketed || strings.ContainsAny(host, ":%[]") {
		return ListenSpec{}, fmt.Errorf("invalid local address %q", host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil {
		return ListenSpec{}, fmt.Errorf("cannot resolve local address %q: %w", host, err)
	}
	var have4, have6 bool
	for _, a := range addrs {
		a = unmap(a)
		switch {
		case a.Is4() && !have4:
			have4 = true
		case a.Is6() && !have6:
			have6 = true
		default:
			continue
		}
		spec.Addrs = append(spec.Addrs, a)
	}
	if len(spec.Addrs) == 0 {
		return ListenSpec{}, fmt.Errorf("cannot resolve local address %q: no addresses", host)
	}
	return spec, nil
}

// splitHostPort splits "[addr][:port]" the way in.tftpd's split_port
// does; bracketed reports that the host was enclosed in brackets.
func splitHostPort(s string) (host, port string, bracketed bool, err error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, rest, ok = strings.Cut(rest, "]")
		if !ok {
			return "", "", false, fmt.Errorf("invalid address %q: missing ']'", s)
		}
		if rest == "" {
			return host, "", true, nil
		}
		port, ok = strings.CutPrefix(rest, ":")
		if !ok {
			return "", "", false, fmt.Errorf("invalid address %q: junk after ']'", s)
		}
		return host, port, true, nil
	}
	if strings.Count(s, ":") >= 2 {
		if _, err := netip.ParseAddr(s); err == nil {
			return s, "", false, nil
		}
		return "", "", false, fmt.Errorf("invalid address %q: numeric IPv6 addresses need to be enclosed in []", s)
	}
	host, port, _ = strings.Cut(s, ":")
	return host, port, false, nil
}

// parsePort resolves a decimal port or a UDP service name.
func parsePort(p string) (uint16, error) {
	if n, err := strconv.ParseUint(p, 10, 16); err == nil {
		return uint16(n), nil
	}
	if p != "" && p[0] >= '0' && p[0] <= '9' {
		return 0, fmt.Errorf("invalid port %q", p)
	}
	n, err := net.LookupPort("udp", p)
	if err == nil {
		return uint16(n), nil
	}
	if p == "tftp" {
		return tftpPort, nil
	}
	return 0, fmt.Errorf("cannot resolve local port %q: %w", p, err)
}

// ErrPortRangeExhausted is returned by NewSessionSocket when every port of
// its PortRange is in use on the local address.
var ErrPortRangeExhausted = errors.New("no free port in range")

// PortRange is an inclusive range of UDP ports for session sockets
// (in.tftpd -R lo:hi). The zero value means "any port": the kernel picks an
// ephemeral one.
type PortRange struct {
	// Lo is the first port of the range.
	Lo uint16
	// Hi is the last port of the range, Hi >= Lo.
	Hi uint16
}

// ParsePortRange parses "lo:hi" with 1 <= lo <= hi <= 65535. The empty
// string gives the zero PortRange.
func ParsePortRange(s string) (PortRange, error) {
	if s == "" {
		return PortRange{}, nil
	}
	los, his, ok := strings.Cut(s, ":")
	if !ok {
		return PortRange{}, fmt.Errorf("invalid port range %q: want lo:hi", s)
	}
	lo, err1 := strconv.ParseUint(los, 10, 16)
	hi, err2 := strconv.ParseUint(his, 10, 16)
	if err1 != nil || err2 != nil || lo == 0 || lo > hi {
		return PortRange{}, fmt.Errorf("invalid port range %q: want lo:hi with 1 <= lo <= hi <= 65535", s)
	}
	return PortRange{Lo: uint16(lo), Hi: uint16(hi)}, nil
}

// IsZero reports whether r is the zero PortRange (any port).
func (r PortRange) IsZero() bool { return r == PortRange{} }

// String formats r as "lo:hi", or "" for the zero PortRange.
func (r PortRange) String() string {
	if r.IsZero() {
		return ""
	}
	return strconv.Itoa(int(r.Lo)) + ":" + strconv.Itoa(int(r.Hi))
}

// ports calls try for each port of r, starting at a random offset and
// wrapping around, until try returns done. It reports whether any call did.
func (r PortRange) ports(try func(port uint16) (done bool)) bool {
	n := int(r.Hi) - int(r.Lo) + 1
	start := rand.IntN(n)
	for i := range n {
		if try(uint16(int(r.Lo) + (start+i)%n)) {
			return true
		}
	}
	return false
}

// unmap turns an IPv4-mapped IPv6 address into IPv4, leaving others alone.
func unmap(a netip.Addr) netip.Addr {
	if a.Is4In6() {
		return a.Unmap()
	}
	return a
}

// unmapAddrPort is unmap for an address and port.
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}
