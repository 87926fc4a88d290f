package lossnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

func newNet(t *testing.T) *Net {
	t.Helper()
	if err := Available(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("lossnet unavailable under CI=true: %v", err)
		}
		t.Skipf("skipping: %v (set CI=true to make this fatal)", err)
	}
	n, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
		for _, ns := range []string{n.Server, n.Client} {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
	return n
}

// listen opens a UDP socket on addr inside namespace ns.
func listen(t *testing.T, n *Net, ns string, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadBuffer(1 << 20) // room for a whole blast
	return c
}

// blast sends count datagrams from c to dst, then reads what arrives at r
// until nothing came for a while, and returns how many arrived.
func blast(t *testing.T, from, to *net.UDPConn, count int) int {
	t.Helper()
	dst := to.LocalAddr().(*net.UDPAddr).AddrPort()
	for i := range count {
		if _, err := from.WriteToUDPAddrPort([]byte{byte(i)}, dst); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 16)
	for got < count {
		to.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := to.ReadFromUDPAddrPort(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			t.Fatal(err)
		}
		got++
	}
	return got
}

func TestLossBothWays(t *testing.T) {
	n := newNet(t)
	ctx := context.Background()
	srv := listen(t, n, n.Server, netip.AddrPortFrom(ServerAddr, 0))
	cli := listen(t, n, n.Client, netip.AddrPortFrom(ClientAddr, 0))
	const count = 400
	if got := blast(t, cli, srv, count); got != count {
		t.Fatalf("no loss: %d of %d arrived", got, count)
	}
	if err := n.SetLoss(ctx, 0.25); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []struct {
		side     Side
		from, to *net.UDPConn
	}{{ToServer, cli, srv}, {ToClient, srv, cli}} {
		got := blast(t, dir.from, dir.to, count)
		drops, err := n.Drops(ctx, dir.side)
		if err != nil {
			t.Fatal(err)
		}
		// 25% of 400: 100 expected; 40..160 is beyond 6 standard
		// deviations (sd 8.7) either way.
		if got+int(drops) != count || drops < 40 || drops > 160 {
			t.Errorf("%v: %d arrived, %d dropped, of %d", dir.side, got, drops, count)
		}
	}
	if err := n.SetLoss(ctx, 2); err == nil {
		t.Error("a loss rate above 1 was accepted")
	}
}

func TestCommandRunsInTheNamespace(t *testing.T) {
	n := newNet(t)
	out, err := n.Command(context.Background(), n.Client, "ip", "-4", "-o", "addr", "show", "dev", "veth1").CombinedOutput()
	if err != nil || !containsAddr(string(out), ClientAddr) {
		t.Fatalf("%v: %s", err, out)
	}
}

func containsAddr(s string, a netip.Addr) bool {
	for i := 0; i+len(a.String()) <= len(s); i++ {
		if s[i:i+len(a.String())] == a.String() {
			return true
		}
	}
	return false
}
