package tmpl

import (
	"net/netip"
	"path"
	"reflect"
	"strings"
	"testing"
)

func TestPxelinuxCandidates(t *testing.T) {
	tests := []struct {
		mac, ip string
		want    []string
	}{
		// The example of the pxelinux documentation.
		{"88:99:AA:BB:CC:DD", "192.0.2.91", []string{
			"01-88-99-aa-bb-cc-dd",
			"C000025B", "C000025", "C00002", "C0000", "C000", "C00", "C0", "C",
			"default",
		}},
		{"", "192.168.0.1", []string{"C0A80001", "C0A8000", "C0A800", "C0A80", "C0A8", "C0A", "C0", "C", "default"}},
		{"aa-bb-cc-dd-ee-ff", "", []string{"01-aa-bb-cc-dd-ee-ff", "default"}},
		{"aa-bb-cc-dd-ee-ff", "2001:db8::1", []string{"01-aa-bb-cc-dd-ee-ff", "default"}},
		{"", "::ffff:10.0.0.1", []string{"0A000001", "0A00000", "0A0000", "0A000", "0A00", "0A0", "0A", "0", "default"}},
		{"not-a-mac", "not-an-ip", []string{"default"}},
	}
	for _, tt := range tests {
		if got := PxelinuxCandidates(tt.mac, tt.ip); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("PxelinuxCandidates(%q, %q) = %q, want %q", tt.mac, tt.ip, got, tt.want)
		}
	}
}

func TestMACFromPxelinux(t *testing.T) {
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff", true},
		{"/tftpboot/pxelinux.cfg/01-AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff", true},
		{`pxelinux.cfg\01-88-99-aa-bb-cc-dd`, "88:99:aa:bb:cc:dd", true},
		{"01-aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:ff", true},
		{"pxelinux.cfg/C0A80001", "", false},
		{"pxelinux.cfg/default", "", false},
		{"pxelinux.cfg/01-aa:bb:cc:dd:ee:ff", "", false},
		{"pxelinux.cfg/01-aa-bb-cc-dd-ee-gg", "", false},
		{"pxelinux.cfg/06-aa-bb-cc-dd-ee-ff", "", false},
		{"pxelinux.cfg/01-aa-bb-cc-dd-ee-ff-00", "", false},
	}
	for _, tt := range tests {
		got, ok := MACFromPxelinux(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MACFromPxelinux(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewData(t *testing.T) {
	tests := []struct {
		name          string
		client, local string
		mac           string
		want          Data
	}{
		{"ipv4 with mac", "192.168.0.1", "192.168.0.254", "AA-BB-CC-DD-EE-FF", Data{
			ClientIP: "192.168.0.1", ClientIPHex: "C0A80001", LocalIP: "192.168.0.254",
			MAC: "aa:bb:cc:dd:ee:ff", MACPxe: "01-aa-bb-cc-dd-ee-ff",
		}},
		{"mapped", "::ffff:10.0.0.1", "::ffff:10.0.0.2", "", Data{
			ClientIP: "10.0.0.1", ClientIPHex: "0A000001", LocalIP: "10.0.0.2",
		}},
		{"ipv6", "2001:db8::1", "2001:db8::2", "bad", Data{ClientIP: "2001:db8::1", LocalIP: "2001:db8::2"}},
		{"nothing", "", "", "", Data{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, _ := netip.ParseAddr(tt.client)
			local, _ := netip.ParseAddr(tt.local)
			got := NewData(client, local, tt.mac, "", "", nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzMACFromPxelinux(f *testing.F) {
	f.Add("pxelinux.cfg/01-aa-bb-cc-dd-ee-ff")
	f.Add("01-AA-BB-CC-DD-EE-FF")
	f.Add("C0A80001")
	f.Fuzz(func(t *testing.T, name string) {
		mac, ok := MACFromPxelinux(name)
		if !ok {
			return
		}
		// The MAC gives back the pxelinux name.
		base := path.Base(strings.ReplaceAll(name, `\`, "/"))
		if got := PxelinuxCandidates(mac, "")[0]; !strings.EqualFold(got, base) {
			t.Fatalf("%q -> %q -> %q", name, mac, got)
		}
	})
}
