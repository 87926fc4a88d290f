package httporigin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// resolver turns origin host names into addresses in a worker that may be
// chrooted: /etc/hosts and the name servers of /etc/resolv.conf are read
// when the Handler is built (before the chroot), so names keep resolving
// in a root that has no /etc.
type resolver struct {
	d     *net.Dialer // dials origins and proxies (Config.Networks applies)
	hosts map[string][]netip.Addr
	r     *net.Resolver
}

// maxEtcFile bounds the system files read.
const maxEtcFile = 1 << 20

func loadResolver(d *net.Dialer) *resolver {
	rs := &resolver{d: d, hosts: readHosts("/etc/hosts"), r: net.DefaultResolver}
	if ns := readNameservers("/etc/resolv.conf"); len(ns) > 0 {
		dns := &net.Dialer{Timeout: d.Timeout}
		rs.r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var errs []error
			for _, s := range ns {
				c, err := dns.DialContext(ctx, network, s)
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		}}
	}
	return rs
}

// dial connects to addr ("host:port"), trying each address of host in turn.
func (rs *resolver) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return rs.d.DialContext(ctx, network, addr) // a service name: let net resolve it
	}
	ips, err := rs.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		c, err := rs.d.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(p)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (rs *resolver) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if ips := rs.hosts[strings.ToLower(host)]; len(ips) > 0 {
		return ips, nil
	}
	return rs.r.LookupNetIP(ctx, "ip", host)
}

// readHosts reads a hosts(5) file: address, then names.
func readHosts(path string) map[string][]netip.Addr {
	m := map[string][]netip.Addr{}
	eachLine(path, func(f []string) {
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			return
		}
		for _, name := range f[1:] {
			n := strings.ToLower(name)
			m[n] = append(m[n], ip)
		}
	})
	return m
}

// readNameservers returns the "nameserver" addresses of a resolv.conf(5)
// file as "ip:53".
func readNameservers(path string) []string {
	var ns []string
	eachLine(path, func(f []string) {
		if f[0] != "nameserver" || len(f) < 2 || len(ns) == 3 {
			return
		}
		if ip, err := netip.ParseAddr(f[1]); err == nil {
			ns = append(ns, netip.AddrPortFrom(ip, 53).String())
		}
	})
	return ns
}

// eachLine calls fn with the fields of each line of path, comments ('#'
// or ';') removed and blank lines skipped. A missing file has no lines.
func eachLine(path string, fn func([]string)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxEtcFile))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) > 0 {
			fn(f)
		}
	}
}
