package udp

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseListenAddress(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		in, def string
		addrs   []netip.Addr
		port    uint16
		wantErr string
	}{
		{in: "", def: "69", port: 69},
		{in: "", def: "", port: 69},
		{in: "", def: "tftp", port: 69},
		{in: ":69", port: 69},
		{in: ":", def: "6969", port: 6969},
		{in: ":0", def: "69", port: 0},
		{in: "0.0.0.0:69", addrs: []netip.Addr{a("0.0.0.0")}, port: 69},
		{in: "127.0.0.1:6969", addrs: []netip.Addr{a("127.0.0.1")}, port: 6969},
		{in: "127.0.0.1", def: "69", addrs: []netip.Addr{a("127.0.0.1")}, port: 69},
		{in: "127.0.0.1:", def: "70", addrs: []netip.Addr{a("127.0.0.1")}, port: 70},
		{in: "127.0.0.1:tftp", addrs: []netip.Addr{a("127.0.0.1")}, port: 69},
		{in: "[::1]:69", addrs: []netip.Addr{a("::1")}, port: 69},
		{in: "[::]:69", addrs: []netip.Addr{a("::")}, port: 69},
		{in: "[::]", def: "69", addrs: []netip.Addr{a("::")}, port: 69},
		{in: "[::1]:", def: "69", addrs: []netip.Addr{a("::1")}, port: 69},
		{in: "::1", def: "69", addrs: []netip.Addr{a("::1")}, port: 69},
		{in: "::1:69", def: "69", addrs: []netip.Addr{a("::1:69")}, port: 69}, // a valid address, as documented
		{in: "fe80::1%lo", def: "69", addrs: []netip.Addr{a("fe80::1%lo")}, port: 69},
		{in: "[fe80::1%eth0]:69", addrs: []netip.Addr{a("fe80::1%eth0")}, port: 69},
		{in: "[::ffff:127.0.0.2]:69", addrs: []netip.Addr{a("127.0.0.2")}, port: 69},
		{in: "[::1", wantErr: "missing ']'"},
		{in: "[::1]69", wantErr: "junk after"},
		{in: "::1::2:69", wantErr: "enclosed in []"},
		{in: "127.0.0.1:65536", wantErr: "invalid port"},
		{in: "127.0.0.1:69x", wantErr: "invalid port"},
		{in: "127.0.0.1:-1", wantErr: "cannot resolve local port"},
		{in: "127.0.0.1:no-such-service-here", wantErr: "cannot resolve local port"},
		{in: "127.0.0.1", def: "no-such-service-here", wantErr: "cannot resolve local port"},
		{in: "[not-an-ip]:69", wantErr: "invalid local address"},
		{in: "bad%host:69", wantErr: "invalid local address"},
	}
	for _, tt := range tests {
		t.Run(tt.in+"/"+tt.def, func(t *testing.T) {
			got, err := ParseListenAddress(tt.in, tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseListenAddress(%q, %q) = %v, %v; want error containing %q", tt.in, tt.def, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListenAddress(%q, %q): %v", tt.in, tt.def, err)
			}
			if !slices.Equal(got.Addrs, tt.addrs) || got.Port != tt.port {
				t.Errorf("ParseListenAddress(%q, %q) = %v %v; want %v %v", tt.in, tt.def, got.Addrs, got.Port, tt.addrs, tt.port)
			}
			if got.IsWildcard() != (len(tt.addrs) == 0) {
				t.Errorf("IsWildcard() = %v", got.IsWildcard())
			}
		})
	}
}

func TestParseListenAddressName(t *testing.T) {
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil || !strings.Contains(string(hosts), "localhost") {
		t.Skip("no localhost entry in /etc/hosts")
	}
	got, err := ParseListenAddress("localhost:69", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.Port != 69 || len(got.Addrs) == 0 || len(got.Addrs) > 2 {
		t.Fatalf("got %v", got)
	}
	var n4, n6 int
	for _, a := range got.Addrs {
		if !a.IsLoopback() {
			t.Errorf("localhost resolved to %v", a)
		}
		if a.Is4() {
			n4++
		} else {
			n6++
		}
	}
	if n4 > 1 || n6 > 1 {
		t.Errorf("more than one address per family: %v", got.Addrs)
	}
}

func TestListenSpecString(t *testing.T) {
	tests := []struct {
		spec ListenSpec
		want string
	}{
		{ListenSpec{Port: 69}, ":69"},
		{ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Port: 69}, "127.0.0.1:69"},
		{ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, Port: 6969}, "127.0.0.1:6969,[::1]:6969"},
	}
	for _, tt := range tests {
		if got := tt.spec.String(); got != tt.want {
			t.Errorf("String() = %q; want %q", got, tt.want)
		}
	}
}

func TestFamilyString(t *testing.T) {
	for f, want := range map[Family]string{AnyFamily: "any", IPv4Only: "ipv4", IPv6Only: "ipv6", 7: "Family(7)"} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q; want %q", f, got, want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{in: "", want: PortRange{}},
		{in: "1000:2000", want: PortRange{1000, 2000}},
		{in: "5:5", want: PortRange{5, 5}},
		{in: "1:65535", want: PortRange{1, 65535}},
		{in: "0:10", wantErr: true},
		{in: "10:5", wantErr: true},
		{in: "10", wantErr: true},
		{in: "a:b", wantErr: true},
		{in: "1:65536", wantErr: true},
		{in: "1:", wantErr: true},
		{in: ":2", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("%v.String() = %q; want %q", got, got.String(), tt.in)
		}
	}
	if !(PortRange{}).IsZero() || (PortRange{1, 1}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestPortRangePorts(t *testing.T) {
	r := PortRange{Lo: 65533, Hi: 65535}
	for range 20 {
		var seen []uint16
		if r.ports(func(p uint16) bool { seen = append(seen, p); return false }) {
			t.Fatal("ports reported done")
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []uint16{65533, 65534, 65535}) {
			t.Fatalf("visited %v", seen)
		}
	}
}

func TestZones(t *testing.T) {
	lo := loopbackInterface(t)
	var z zoneCache
	for range 2 { // miss, then hit
		if got := z.name(lo.Index); got != lo.Name {
			t.Errorf("name(%d) = %q; want %q", lo.Index, got, lo.Name)
		}
	}
	if got := z.name(1 << 30); got != "1073741824" {
		t.Errorf("name(unknown) = %q", got)
	}
	for zone, want := range map[string]int{"": 0, lo.Name: lo.Index, "42": 42} {
		if got, err := zoneIndex(zone); err != nil || got != want {
			t.Errorf("zoneIndex(%q) = %d, %v; want %d", zone, got, err, want)
		}
	}
	if _, err := zoneIndex("no-such-if0"); err == nil {
		t.Error("zoneIndex(no-such-if0) succeeded")
	}
	for a, want := range map[string]bool{"fe80::1": true, "ff02::1": true, "ff01::1": true, "::1": false, "127.0.0.1": false, "::ffff:127.0.0.1": false} {
		if got := needsZone(netip.MustParseAddr(a)); got != want {
			t.Errorf("needsZone(%s) = %v", a, got)
		}
	}
}
