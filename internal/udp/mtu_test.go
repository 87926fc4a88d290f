package udp

import (
	"net/netip"
	"testing"
)

func TestInterfaceMTU(t *testing.T) {
	lo := loopbackInterface(t)
	addrs := []string{"127.0.0.1", "::ffff:127.0.0.1", "127.0.0.2", "::1", "::1%" + lo.Name}
	for _, a := range addrs {
		t.Run(a, func(t *testing.T) {
			if netip.MustParseAddr(a).Is6() && !netip.MustParseAddr(a).Is4In6() {
				need6(t)
			}
			got, err := InterfaceMTU(netip.MustParseAddr(a))
			if err != nil || got != lo.MTU {
				t.Errorf("InterfaceMTU(%s) = %d, %v; want %d", a, got, err, lo.MTU)
			}
		})
	}
	for _, a := range []string{"192.0.2.1", "::1%no-such-if0"} {
		if got, err := InterfaceMTU(netip.MustParseAddr(a)); err == nil {
			t.Errorf("InterfaceMTU(%s) = %d; want error", a, got)
		}
	}
}
