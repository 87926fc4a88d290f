package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/lossnet"
)

// sessionT makes a session socket on local and wraps it in a SessionConn.
func sessionT(t testing.TB, local string, ports PortRange) *SessionConn {
	t.Helper()
	f, addr, err := NewSessionSocket(netip.MustParseAddr(local), ports)
	if err != nil {
		t.Fatalf("NewSessionSocket(%s, %v): %v", local, ports, err)
	}
	c, err := NewSessionConn(f)
	f.Close() // NewSessionConn made its own copy
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.LocalAddr() != addr {
		t.Fatalf("LocalAddr() = %v; NewSessionSocket said %v", c.LocalAddr(), addr)
	}
	return c
}

func deadline() time.Time { return time.Now().Add(testTimeout) }

func TestSessionSocketReplySource(t *testing.T) {
	for _, tc := range []struct{ local, from string }{
		{"127.0.0.2", "127.0.0.1"},
		{"::ffff:127.0.0.2", "127.0.0.1"},
		{"::1", "::1"},
		{"::1%lo", "::1"},
	} {
		t.Run(tc.local, func(t *testing.T) {
			if netip.MustParseAddr(tc.from).Is6() {
				need6(t)
			}
			s := sessionT(t, tc.local, PortRange{})
			want := unmap(netip.MustParseAddr(tc.local)).WithZone("")
			if s.LocalAddr().Addr().WithZone("") != want || s.LocalAddr().Port() == 0 {
				t.Fatalf("LocalAddr() = %v; want %v:nonzero", s.LocalAddr(), want)
			}
			peer := client(t, tc.from)
			stranger := client(t, tc.from)
			// Not connected: both the peer and a stranger get through.
			for _, c := range []*net.UDPConn{peer, stranger} {
				send(t, c, []byte("ack"), s.LocalAddr())
				b := make([]byte, 64)
				n, from, err := s.ReadPacket(b, deadline())
				if err != nil || string(b[:n]) != "ack" || from != clientAddr(c) {
					t.Fatalf("ReadPacket = %q, %v, %v; want %q from %v", b[:n], from, err, "ack", clientAddr(c))
				}
				if err := s.WritePacket([]byte("data"), from); err != nil {
					t.Fatal(err)
				}
				if msg, src := recv(t, c); msg != "data" || src.Addr().WithZone("") != want || src.Port() != s.LocalAddr().Port() {
					t.Errorf("client got %q from %v; want %q from %v", msg, src, "data", s.LocalAddr())
				}
			}
		})
	}
}

func TestSessionSocketOptions(t *testing.T) {
	f, _, err := NewSessionSocket(netip.MustParseAddr("127.0.0.2"), PortRange{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fdflags int
	sc.Control(func(fd uintptr) { fdflags, _ = unix.FcntlInt(fd, unix.F_GETFD, 0) })
	if fdflags&unix.FD_CLOEXEC == 0 {
		t.Error("session socket is not close-on-exec")
	}
	if got := sockoptInt(t, sc, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER); got != unix.IP_PMTUDISC_DONT {
		t.Errorf("IP_MTU_DISCOVER = %d; want IP_PMTUDISC_DONT", got)
	}
	if got := sockoptInt(t, sc, unix.SOL_SOCKET, unix.SO_RCVBUF); got < 200_000 {
		t.Errorf("SO_RCVBUF = %d", got)
	}
	var peerErr error
	sc.Control(func(fd uintptr) { _, peerErr = unix.Getpeername(int(fd)) })
	if !errors.Is(peerErr, unix.ENOTCONN) {
		t.Errorf("getpeername: %v; want ENOTCONN", peerErr)
	}
}

func TestSessionSocketErrors(t *testing.T) {
	for _, tc := range []struct {
		local string
		ports PortRange
	}{
		{"", PortRange{}},
		{"127.0.0.1", PortRange{Lo: 10, Hi: 5}},
		{"127.0.0.1", PortRange{Lo: 0, Hi: 5}},
		{"192.0.2.1", PortRange{}},       // not ours: EADDRNOTAVAIL
		{"::1%no-such-if0", PortRange{}}, // unknown zone
	} {
		var a netip.Addr
		if tc.local != "" {
			a = netip.MustParseAddr(tc.local)
		}
		if f, addr, err := NewSessionSocket(a, tc.ports); err == nil {
			f.Close()
			t.Errorf("NewSessionSocket(%q, %v) = %v; want error", tc.local, tc.ports, addr)
		}
	}
}

// protectedPorts holds n consecutive ports on 127.0.0.78 so that nobody
// can bind them on the wildcard address either; the same ports on another
// loopback address are then ours to test with.
func protectedPorts(t *testing.T, n int) uint16 {
	t.Helper()
	x := netip.MustParseAddr("127.0.0.78")
	for range 50 {
		f, first, err := NewSessionSocket(x, PortRange{})
		if err != nil {
			t.Fatal(err)
		}
		held := []*os.File{f}
		p := first.Port()
		for i := 1; i < n && int(p)+i <= 65535; i++ {
			f, _, err := NewSessionSocket(x, PortRange{Lo: p + uint16(i), Hi: p + uint16(i)})
			if err != nil {
				break
			}
			held = append(held, f)
		}
		if len(held) == n {
			t.Cleanup(func() {
				for _, f := range held {
					f.Close()
				}
			})
			return p
		}
		for _, f := range held {
			f.Close()
		}
	}
	t.Skipf("found no %d consecutive free ports", n)
	return 0
}

func TestSessionSocketPortRange(t *testing.T) {
	const n = 4
	lo := protectedPorts(t, n)
	r := PortRange{Lo: lo, Hi: lo + n - 1}
	y := netip.MustParseAddr("127.0.0.79")

	// Random start: over many allocations, more than one first port.
	first := map[uint16]bool{}
	for range 64 {
		f, addr, err := NewSessionSocket(y, r)
		if err != nil {
			t.Fatal(err)
		}
		first[addr.Port()] = true
		f.Close()
	}
	if len(first) < 2 {
		t.Errorf("64 allocations from %v all started at %v", r, first)
	}

	// Hold one port ourselves: the other n-1 are handed out, then none.
	busy, _, err := NewSessionSocket(y, PortRange{Lo: lo + 1, Hi: lo + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	got := map[uint16]bool{}
	for range n {
		f, addr, err := NewSessionSocket(y, r)
		if errors.Is(err, ErrPortRangeExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p := addr.Port()
		if p < r.Lo || p > r.Hi || p == lo+1 || got[p] || addr.Addr() != y {
			t.Errorf("allocated %v from %v (busy %d, already %v)", addr, r, lo+1, got)
		}
		got[p] = true
	}
	if len(got) != n-1 {
		t.Errorf("allocated %d ports from %v; want %d", len(got), r, n-1)
	}
	if _, _, err := NewSessionSocket(y, r); !errors.Is(err, ErrPortRangeExhausted) {
		t.Errorf("NewSessionSocket on a full range: %v; want ErrPortRangeExhausted", err)
	}
}

func TestReadPacketDeadline(t *testing.T) {
	s := sessionT(t, "127.0.0.1", PortRange{})
	b := make([]byte, 16)
	for _, d := range []time.Time{time.Now().Add(20 * time.Millisecond), time.Now().Add(-time.Second)} {
		_, _, err := s.ReadPacket(b, d)
		if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrInterrupted) {
			t.Errorf("ReadPacket with deadline %v: %v; want os.ErrDeadlineExceeded", d, err)
		}
	}
	// A zero deadline clears the previous one.
	c := client(t, "127.0.0.1")
	send(t, c, []byte("x"), s.LocalAddr())
	if n, _, err := s.ReadPacket(b, time.Time{}); err != nil || n != 1 {
		t.Errorf("ReadPacket(no deadline) = %d, %v", n, err)
	}
}

func TestInterrupt(t *testing.T) {
	for i := range 20 {
		s := sessionT(t, "127.0.0.1", PortRange{})
		done := make(chan error, 1)
		go func() {
			_, _, err := s.ReadPacket(make([]byte, 16), time.Time{})
			done <- err
		}()
		s.Interrupt()
		select {
		case err := <-done:
			if !errors.Is(err, ErrInterrupted) || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("iteration %d: blocked ReadPacket returned %v; want ErrInterrupted", i, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("iteration %d: Interrupt did not unblock ReadPacket", i)
		}
		if i > 0 {
			continue
		}
		// Later reads fail at once, even with a packet waiting; writes work.
		c := client(t, "127.0.0.1")
		send(t, c, []byte("x"), s.LocalAddr())
		s.Interrupt()
		if _, _, err := s.ReadPacket(make([]byte, 16), deadline()); !errors.Is(err, ErrInterrupted) {
			t.Errorf("ReadPacket after Interrupt: %v", err)
		}
		if err := s.WritePacket([]byte("bye"), clientAddr(c)); err != nil {
			t.Errorf("WritePacket after Interrupt: %v", err)
		}
		if msg, _ := recv(t, c); msg != "bye" {
			t.Errorf("client got %q", msg)
		}
	}
}

func TestSessionClose(t *testing.T) {
	s := sessionT(t, "127.0.0.1", PortRange{})
	s.Close()
	if _, _, err := s.ReadPacket(make([]byte, 16), deadline()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadPacket after Close: %v", err)
	}
	if err := s.WritePacket([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WritePacket after Close: %v", err)
	}
}

func TestSessionTruncated(t *testing.T) {
	s := sessionT(t, "127.0.0.1", PortRange{})
	c := client(t, "127.0.0.1")
	send(t, c, make([]byte, 600), s.LocalAddr())
	b := make([]byte, 516)
	n, from, err := s.ReadPacket(b, deadline())
	if !errors.Is(err, ErrTruncated) || n != len(b) || from != clientAddr(c) {
		t.Errorf("ReadPacket(oversized) = %d, %v, %v; want %d, %v, ErrTruncated", n, from, err, len(b), clientAddr(c))
	}
}

func TestNewSessionConnErrors(t *testing.T) {
	if _, err := NewSessionConn(unixgram(t)); err == nil {
		t.Error("NewSessionConn(unix socket) succeeded")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := NewSessionConn(f); err == nil {
		t.Error("NewSessionConn(/dev/null) succeeded")
	}
}

func TestSessionZeroAllocs(t *testing.T) {
	a := sessionT(t, "127.0.0.1", PortRange{})
	b := sessionT(t, "127.0.0.2", PortRange{})
	msg, buf := make([]byte, 516), make([]byte, 65536)
	d := deadline()
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		if err := a.WritePacket(msg, b.LocalAddr()); err != nil {
			failed = err
			return
		}
		if _, _, err := b.ReadPacket(buf, d); err != nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per write+read; want 0", allocs)
	}
}

func BenchmarkSessionRoundTrip(bm *testing.B) {
	a := sessionT(bm, "127.0.0.1", PortRange{})
	b := sessionT(bm, "127.0.0.2", PortRange{})
	msg, buf := make([]byte, 516), make([]byte, 65536)
	bm.ReportAllocs()
	for bm.Loop() {
		if err := a.WritePacket(msg, b.LocalAddr()); err != nil {
			bm.Fatal(err)
		}
		if _, _, err := b.ReadPacket(buf, time.Time{}); err != nil {
			bm.Fatal(err)
		}
	}
}

// batch returns n datagrams of seg bytes (the last one short by 7)
// laid out back to back, each starting with its index.
func batch(n, seg int) []byte {
	b := make([]byte, n*seg-7)
	for i := range n {
		b[i*seg] = byte(i)
		for j := i*seg + 1; j < min((i+1)*seg, len(b)); j++ {
			b[j] = byte(j)
		}
	}
	return b
}

// readBatch reads n datagrams on c and checks them against buf.
func readBatch(t *testing.T, c *net.UDPConn, buf []byte, n, seg int) {
	t.Helper()
	c.SetReadBuffer(4 << 20)
	got := make([]byte, 65536)
	for i := range n {
		k, _, err := c.ReadFromUDPAddrPort(got)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i, n, err)
		}
		want := buf[i*seg : min(len(buf), (i+1)*seg)]
		if string(got[:k]) != string(want) {
			t.Fatalf("datagram %d: %d bytes starting %d, want %d bytes starting %d", i, k, got[0], len(want), want[0])
		}
	}
}

func TestWriteBatch(t *testing.T) {
	for _, tc := range []struct {
		n, seg int
		noGSO  bool
	}{
		{2, 516, false}, {16, 1472, false}, {44, 1472, false}, {64, 1472, false}, {100, 516, false},
		{5, 8196, false}, {3, 65468, false}, {16, 1472, true}, {100, 516, true},
	} {
		t.Run(fmt.Sprintf("%dx%d/noGSO=%v", tc.n, tc.seg, tc.noGSO), func(t *testing.T) {
			s := sessionT(t, "127.0.0.1", PortRange{})
			s.noGSO.Store(tc.noGSO)
			c := client(t, "127.0.0.1")
			c.SetReadBuffer(4 << 20)
			buf := batch(tc.n, tc.seg)
			if err := s.WriteBatch(buf, tc.seg, clientAddr(c)); err != nil {
				t.Fatal(err)
			}
			readBatch(t, c, buf, tc.n, tc.seg)
			if !tc.noGSO && s.noGSO.Load() {
				t.Error("GSO was turned off on loopback")
			}
		})
	}
	s := sessionT(t, "127.0.0.1", PortRange{})
	if err := s.WriteBatch(make([]byte, 10), 0, s.LocalAddr()); err == nil {
		t.Error("segment size 0 accepted")
	}
	s.Close()
	if err := s.WriteBatch(batch(4, 516), 516, s.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteBatch after Close: %v", err)
	}
}

func TestWriteBatchAllocs(t *testing.T) {
	s := sessionT(t, "127.0.0.1", PortRange{})
	c := client(t, "127.0.0.1")
	buf := batch(16, 1472)
	s.WriteBatch(buf, 1472, clientAddr(c)) // grows the arrays
	if a := testing.AllocsPerRun(50, func() { s.WriteBatch(buf, 1472, clientAddr(c)) }); a != 0 {
		t.Errorf("%v allocations per batch; want 0", a)
	}
}

func TestCloseWakesReader(t *testing.T) {
	// Some iterations close before the read blocks, most after.
	for i := range 20 {
		s := sessionT(t, "127.0.0.1", PortRange{})
		done := make(chan error, 1)
		go func() {
			_, _, err := s.ReadPacket(make([]byte, 16), time.Time{})
			done <- err
		}()
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("iteration %d: blocked ReadPacket returned %v after Close; want net.ErrClosed", i, err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("iteration %d: Close did not unblock ReadPacket", i)
		}
	}
}

func TestReadPacketLongDeadlineThenShort(t *testing.T) {
	// SO_RCVTIMEO follows the deadline: a read with a short deadline after
	// one with a long deadline must not wait the long one.
	s := sessionT(t, "127.0.0.1", PortRange{})
	c := client(t, "127.0.0.1")
	send(t, c, []byte("x"), s.LocalAddr())
	if _, _, err := s.ReadPacket(make([]byte, 16), time.Now().Add(3*testTimeout)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err := s.ReadPacket(make([]byte, 16), time.Now().Add(50*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%v; want os.ErrDeadlineExceeded", err)
	}
	if el := time.Since(start); el > testTimeout {
		t.Fatalf("waited %v", el)
	}
}

func TestWriteBatchGSOFallback(t *testing.T) {
	// Over a 1500-byte MTU link a 2000-byte datagram cannot use UDP GSO
	// (the kernel refuses segments that need fragmenting): WriteBatch
	// falls back to sendmmsg, and the datagrams still arrive whole.
	if err := lossnet.Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	n, err := lossnet.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var s *SessionConn
	var c *net.UDPConn
	if err := n.Do(n.Server, func() error {
		f, _, err := NewSessionSocket(lossnet.ServerAddr, PortRange{})
		if err != nil {
			return err
		}
		defer f.Close()
		s, err = NewSessionConn(f)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := n.Do(n.Client, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IP(lossnet.ClientAddr.AsSlice())})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	to := clientAddr(c)
	buf := batch(8, 1472)
	if err := s.WriteBatch(buf, 1472, to); err != nil || s.noGSO.Load() {
		t.Fatalf("1472-byte segments: %v, GSO off %v", err, s.noGSO.Load())
	}
	readBatch(t, c, buf, 8, 1472)
	buf = batch(8, 2000)
	if err := s.WriteBatch(buf, 2000, to); err != nil {
		t.Fatal(err)
	}
	if !s.noGSO.Load() {
		t.Error("GSO still on after a segment larger than the MTU")
	}
	readBatch(t, c, buf, 8, 2000)
}
