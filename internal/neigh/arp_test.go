package neigh

import (
	"net/netip"
	"strings"
	"testing"
)

const arpText = `IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
192.0.2.2        0x1         0x0         00:00:00:00:00:00     *        eth0
192.0.2.3        0x1         0x6         02:fc:00:00:00:07     *        eth1
192.0.2.4        0x1         0xc         00:00:00:00:00:00     *        eth0
192.0.2.5        0x1         0x2         00:00:00:00:00:00     *        eth0
192.0.2.6        0x1         0xzz        02:fc:00:00:00:08     *        eth0
192.0.2.7        0x1         0x2         not-a-mac             *        eth0
192.0.2.8        0x20        0x2         80:00:00:48:fe:80:00:00:00:00:00:00:02:c9:03:00:0a:bc:de:f1 * ib0
192.0.2.9 short
192.0.2.10       0x1         0x2         02:fc:00:00:00:0a     *        eth0
192.0.2.10       0x1         0x2         02:fc:00:00:00:0b     *        eth1
`

func TestParseARP(t *testing.T) {
	tests := []struct {
		ip   string
		want string // "" for absent
	}{
		{"192.0.2.1", "02:fc:00:00:00:05"},
		{"192.0.2.2", ""},                  // incomplete: flags 0x0
		{"192.0.2.3", "02:fc:00:00:00:07"}, // complete and permanent
		{"192.0.2.4", ""},                  // proxy (published) entry
		{"192.0.2.5", ""},                  // all-zero address
		{"192.0.2.6", ""},                  // bad flags
		{"192.0.2.7", ""},                  // bad address
		{"192.0.2.8", "80:00:00:48:fe:80:00:00:00:00:00:00:02:c9:03:00:0a:bc:de:f1"},
		{"192.0.2.9", ""},
		{"192.0.2.10", "02:fc:00:00:00:0a"}, // the first entry wins
		{"192.0.2.11", ""},
		{"2001:db8::1", ""}, // IPv4 only
		{"::ffff:192.0.2.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			mac, ok := parseARP(strings.NewReader(arpText), ip, 1<<20)
			if got := mac.String(); ok != (tt.want != "") || got != tt.want {
				t.Errorf("parseARP(%s) = %q, %v; want %q", ip, got, ok, tt.want)
			}
		})
	}
}

func TestParseARPBounds(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.10")
	// The limit cuts the table before the entry.
	if _, ok := parseARP(strings.NewReader(arpText), ip, int64(strings.Index(arpText, "192.0.2.10"))); ok {
		t.Error("found an entry past the read limit")
	}
	// A line longer than any the kernel writes stops the scan.
	long := "IP address\n" + strings.Repeat("x", maxARPLine) + "\n192.0.2.10 0x1 0x2 02:fc:00:00:00:0a * eth0\n"
	if _, ok := parseARP(strings.NewReader(long), ip, 1<<20); ok {
		t.Error("found an entry after an overlong line")
	}
	// The first line is the header, whatever it holds.
	if _, ok := parseARP(strings.NewReader("192.0.2.10 0x1 0x2 02:fc:00:00:00:0a * eth0\n"), ip, 1<<20); ok {
		t.Error("parsed the header line")
	}
	if _, ok := parseARP(strings.NewReader(""), ip, 1<<20); ok {
		t.Error("found an entry in an empty file")
	}
}

func FuzzParseARP(f *testing.F) {
	f.Add(arpText, "192.0.2.1")
	f.Add("h\n1.2.3.4 0x1 0x2 aa:bb:cc:dd:ee:ff * x\n", "1.2.3.4")
	f.Fuzz(func(t *testing.T, text, addr string) {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		mac, ok := parseARP(strings.NewReader(text), ip, 1<<16)
		if ok != (mac != nil) || ok && (!ip.Is4() || !usable(mac)) {
			t.Fatalf("parseARP(%q, %s) = %v, %v", text, ip, mac, ok)
		}
		if ok && !strings.Contains(text, addr) {
			t.Fatalf("found %s, absent from the text", addr)
		}
	})
}
