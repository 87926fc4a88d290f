package udp

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every blocking read in these tests.
const testTimeout = 10 * time.Second

var (
	v6Once sync.Once
	v6Err  error
)

// need6 skips the test when ::1 is unusable.
func need6(t testing.TB) {
	t.Helper()
	v6Once.Do(func() {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err == nil {
			c.Close()
		}
		v6Err = err
	})
	if v6Err != nil {
		t.Skipf("IPv6 loopback unavailable: %v", v6Err)
	}
}

// client opens a UDP socket bound to local, port 0.
func client(t testing.TB, local string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(local), 0)))
	if err != nil {
		t.Fatalf("client on %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

func clientAddr(c *net.UDPConn) netip.AddrPort {
	return unmapAddrPort(c.LocalAddr().(*net.UDPAddr).AddrPort())
}

func send(t testing.TB, c *net.UDPConn, b []byte, to netip.AddrPort) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
}

// recv reads one datagram on a client and returns it and its source.
func recv(t testing.TB, c *net.UDPConn) (string, netip.AddrPort) {
	t.Helper()
	b := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	return string(b[:n]), unmapAddrPort(from)
}

func loopbackInterface(t testing.TB) net.Interface {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi
		}
	}
	t.Skip("no loopback interface")
	return net.Interface{}
}
