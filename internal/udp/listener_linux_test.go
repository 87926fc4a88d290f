package udp

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func listenT(t *testing.T, spec string, family Family) []*Listener {
	t.Helper()
	s, err := ParseListenAddress(spec, "0")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(s, family)
	if err != nil {
		t.Fatalf("Listen(%v, %v): %v", s, family, err)
	}
	for _, l := range ls {
		if err := l.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return ls
}

func listen1(t *testing.T, spec string, family Family) *Listener {
	t.Helper()
	ls := listenT(t, spec, family)
	if len(ls) != 1 {
		t.Fatalf("Listen(%q) made %d listeners; want 1", spec, len(ls))
	}
	return ls[0]
}

func sockoptInt(t *testing.T, rc syscall.RawConn, level, opt int) int {
	t.Helper()
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func v6only(t *testing.T, l *Listener) int {
	t.Helper()
	rc, err := l.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return sockoptInt(t, rc, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
}

// exchange sends a request from a client bound to from to dst on l's port,
// checks what ReadRequest reports, answers with WriteTo and checks the
// answer's source address.
func exchange(t *testing.T, l *Listener, from, dst string) {
	t.Helper()
	c := client(t, from)
	to := netip.AddrPortFrom(netip.MustParseAddr(dst), l.LocalAddr().Port())
	send(t, c, []byte("request"), to)

	b := make([]byte, 512)
	n, peer, local, ifindex, err := l.ReadRequest(b)
	if err != nil {
		t.Fatalf("ReadRequest: %v", err)
	}
	if got := string(b[:n]); got != "request" {
		t.Errorf("read %q", got)
	}
	if want := clientAddr(c); peer != want {
		t.Errorf("peer = %v; want %v", peer, want)
	}
	if peer.Addr().Is4In6() || local.Is4In6() {
		t.Errorf("mapped address: peer %v local %v", peer, local)
	}
	if local != to.Addr() {
		t.Errorf("local = %v; want %v", local, to.Addr())
	}
	if lo := loopbackInterface(t); ifindex != lo.Index {
		t.Errorf("ifindex = %d; want %d", ifindex, lo.Index)
	}

	if err := l.WriteTo([]byte("busy"), peer, local); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	msg, src := recv(t, c)
	if msg != "busy" || src != to {
		t.Errorf("client got %q from %v; want %q from %v", msg, src, "busy", to)
	}
}

func TestListenIPv4(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	if la := l.LocalAddr(); la.Addr() != netip.MustParseAddr("127.0.0.1") || la.Port() == 0 {
		t.Fatalf("LocalAddr() = %v", la)
	}
	exchange(t, l, "127.0.0.1", "127.0.0.1")
}

func TestListenDualStack(t *testing.T) {
	for _, spec := range []string{"", "[::]"} {
		t.Run("spec="+spec, func(t *testing.T) {
			l := listen1(t, spec+":0", AnyFamily)
			if !l.LocalAddr().Addr().Is6() {
				// No IPv6 on this host: the fallback is IPv4 only.
				if spec == "" && l.LocalAddr().Addr() == netip.IPv4Unspecified() {
					t.Skip("IPv6 unavailable; got the IPv4 fallback")
				}
				t.Fatalf("LocalAddr() = %v; want [::]", l.LocalAddr())
			}
			if got := v6only(t, l); got != 0 {
				t.Fatalf("IPV6_V6ONLY = %d; want 0", got)
			}
			for _, tc := range []struct{ from, dst string }{
				{"127.0.0.1", "127.0.0.1"},
				{"127.0.0.1", "127.0.0.2"},
				{"127.0.0.3", "127.0.0.2"},
				{"::1", "::1"},
			} {
				t.Run(tc.from+"->"+tc.dst, func(t *testing.T) {
					if netip.MustParseAddr(tc.dst).Is6() {
						need6(t)
					}
					exchange(t, l, tc.from, tc.dst)
				})
			}
		})
	}
}

func TestListenWildcardIPv4Only(t *testing.T) {
	l := listen1(t, ":0", IPv4Only)
	if l.LocalAddr().Addr() != netip.IPv4Unspecified() {
		t.Fatalf("LocalAddr() = %v", l.LocalAddr())
	}
	exchange(t, l, "127.0.0.1", "127.0.0.2")
	exchange(t, l, "127.0.0.1", "127.0.0.1")
}

func TestListenWildcardIPv6Only(t *testing.T) {
	need6(t)
	l := listen1(t, ":0", IPv6Only)
	if l.LocalAddr().Addr() != netip.IPv6Unspecified() {
		t.Fatalf("LocalAddr() = %v", l.LocalAddr())
	}
	if got := v6only(t, l); got != 1 {
		t.Fatalf("IPV6_V6ONLY = %d; want 1", got)
	}
	exchange(t, l, "::1", "::1")
}

func TestListenAddresses(t *testing.T) {
	need6(t)
	spec := ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}}
	for _, tc := range []struct {
		family Family
		want   int
	}{{AnyFamily, 2}, {IPv4Only, 1}, {IPv6Only, 1}} {
		ls, err := Listen(spec, tc.family)
		if err != nil {
			t.Fatalf("Listen(%v, %v): %v", spec, tc.family, err)
		}
		if len(ls) != tc.want {
			t.Errorf("Listen(%v, %v) made %d listeners; want %d", spec, tc.family, len(ls), tc.want)
		}
		for _, l := range ls {
			if !tc.family.allows(l.LocalAddr().Addr()) {
				t.Errorf("%v listener on %v", tc.family, l.LocalAddr())
			}
			l.Close()
		}
	}
	l := listen1(t, "[::1]:0", AnyFamily)
	exchange(t, l, "::1", "::1")
}

func TestListenErrors(t *testing.T) {
	v4 := ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if _, err := Listen(v4, IPv6Only); err == nil {
		t.Error("Listen(127.0.0.1, IPv6Only) succeeded")
	}
	if _, err := Listen(v4, Family(9)); err == nil {
		t.Error("Listen with a bad family succeeded")
	}
	if _, err := Listen(ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, AnyFamily); err == nil {
		t.Error("Listen on a foreign address succeeded")
	}

	held := listen1(t, ":0", AnyFamily)
	port := held.LocalAddr().Port()
	if _, err := Listen(ListenSpec{Port: port}, AnyFamily); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("Listen on a port in use: %v; want EADDRINUSE", err)
	}
	// The second address fails: the first listener must not leak.
	two := ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("192.0.2.1")}}
	if ls, err := Listen(two, AnyFamily); err == nil {
		t.Errorf("Listen(%v) = %d listeners, want error", two, len(ls))
	}
}

func TestListenerClose(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	done := make(chan error, 1)
	go func() {
		_, _, _, _, err := l.ReadRequest(make([]byte, 16))
		done <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadRequest after Close: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ReadRequest not unblocked by Close")
	}
}

func TestListenerDeadline(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	if err := l.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := l.ReadRequest(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ReadRequest past deadline: %v", err)
	}
}

func TestListenerTruncated(t *testing.T) {
	for _, spec := range []string{"127.0.0.1:0", ":0"} {
		l := listen1(t, spec, AnyFamily)
		c := client(t, "127.0.0.1")
		send(t, c, make([]byte, 100), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), l.LocalAddr().Port()))
		if spec == "127.0.0.1:0" {
			send(t, c, make([]byte, 100), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.LocalAddr().Port()))
		}
		b := make([]byte, 8)
		n, peer, local, _, err := l.ReadRequest(b)
		if !errors.Is(err, ErrTruncated) || n != len(b) || peer != clientAddr(c) || !local.IsLoopback() {
			t.Errorf("%s: ReadRequest(short buffer) = %d, %v, %v, %v; want %d, %v, loopback, ErrTruncated", spec, n, peer, local, err, len(b), clientAddr(c))
		}
	}
}

// TestListenerNoPktinfo turns packet info off to check the fallbacks.
func TestListenerNoPktinfo(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		wantErr error
	}{{"127.0.0.1:0", nil}, {"0.0.0.0:0", ErrNoDestination}} {
		l := listen1(t, tc.spec, IPv4Only)
		rc, err := l.conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 0) })
		c := client(t, "127.0.0.1")
		send(t, c, []byte("x"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.LocalAddr().Port()))
		n, peer, local, _, err := l.ReadRequest(make([]byte, 16))
		if n != 1 || peer != clientAddr(c) || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: ReadRequest = %d, %v, %v, %v; want error %v", tc.spec, n, peer, local, err, tc.wantErr)
		}
		if tc.wantErr == nil && local != l.LocalAddr().Addr() {
			t.Errorf("%s: local = %v; want the bound address", tc.spec, local)
		}
	}
}

func TestWriteToErrors(t *testing.T) {
	l4 := listen1(t, "127.0.0.1:0", AnyFamily)
	v4peer := netip.MustParseAddrPort("127.0.0.1:9")
	v6peer := netip.MustParseAddrPort("[::1]:9")
	if err := l4.WriteTo(nil, v6peer, netip.Addr{}); err == nil {
		t.Error("IPv6 peer on an IPv4 socket accepted")
	}
	if err := l4.WriteTo(nil, v4peer, netip.MustParseAddr("::1")); err == nil {
		t.Error("IPv6 local for an IPv4 peer accepted")
	}
	need6(t)
	l6 := listen1(t, ":0", AnyFamily)
	if err := l6.WriteTo(nil, v6peer, netip.MustParseAddr("::1%no-such-if0")); err == nil {
		t.Error("unknown zone accepted")
	}
}

// TestWriteToDefaultSource checks that without a local address the
// kernel picks the source, and a zoned IPv6 source works.
func TestWriteToDefaultSource(t *testing.T) {
	l := listen1(t, ":0", AnyFamily)
	c := client(t, "127.0.0.1")
	if err := l.WriteTo([]byte("a"), clientAddr(c), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if msg, src := recv(t, c); msg != "a" || src.Port() != l.LocalAddr().Port() {
		t.Errorf("got %q from %v", msg, src)
	}
	if !l.LocalAddr().Addr().Is6() {
		return
	}
	need6(t)
	c6 := client(t, "::1")
	lo := loopbackInterface(t)
	if err := l.WriteTo([]byte("b"), clientAddr(c6), netip.MustParseAddr("::1").WithZone(lo.Name)); err != nil {
		t.Fatal(err)
	}
	if msg, src := recv(t, c6); msg != "b" || src != netip.AddrPortFrom(netip.MustParseAddr("::1"), l.LocalAddr().Port()) {
		t.Errorf("got %q from %v", msg, src)
	}
}

func TestFromFile(t *testing.T) {
	for _, tc := range []struct{ network, bind, dst string }{
		{"udp4", "127.0.0.1", "127.0.0.1"},
		{"udp4", "0.0.0.0", "127.0.0.2"},
		{"udp", "::", "127.0.0.2"}, // dual stack
		{"udp6", "::1", "::1"},
	} {
		t.Run(tc.network+"/"+tc.bind, func(t *testing.T) {
			if tc.network == "udp6" || tc.bind == "::" {
				need6(t)
			}
			orig, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(tc.bind), 0)))
			if err != nil {
				t.Fatal(err)
			}
			port := orig.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			c := client(t, tc.dst)
			to := netip.AddrPortFrom(netip.MustParseAddr(tc.dst), port)
			// One datagram queued before packet info is enabled, as in inetd
			// mode, and one after.
			send(t, c, []byte("early"), to)
			f, err := orig.File()
			orig.Close()
			if err != nil {
				t.Fatal(err)
			}
			l, err := FromFile(f)
			f.Close() // FromFile made its own copy
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			if err := l.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
				t.Fatal(err)
			}
			send(t, c, []byte("late"), to)
			for _, want := range []string{"early", "late"} {
				b := make([]byte, 64)
				n, peer, local, _, err := l.ReadRequest(b)
				if err != nil || string(b[:n]) != want || peer != clientAddr(c) || local != to.Addr() {
					t.Errorf("ReadRequest = %q, %v, %v, %v; want %q from %v to %v", b[:n], peer, local, err, want, clientAddr(c), to.Addr())
				}
			}
		})
	}
}

func TestFromFileErrors(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	tf, err := tl.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	if _, err := FromFile(tf); err == nil {
		t.Error("FromFile(TCP socket) succeeded")
	}
	uf := unixgram(t)
	if _, err := FromFile(uf); err == nil {
		t.Error("FromFile(unix socket) succeeded")
	}
	rf, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	if _, err := FromFile(rf); err == nil {
		t.Error("FromFile(/dev/null) succeeded")
	}
}

// unixgram returns one end of an AF_UNIX datagram socketpair.
func unixgram(t *testing.T) *os.File {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fds[1])
	f := os.NewFile(uintptr(fds[0]), "unixgram")
	t.Cleanup(func() { f.Close() })
	return f
}

func TestListenerFile(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l2, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.LocalAddr() != l.LocalAddr() {
		t.Errorf("LocalAddr() = %v; want %v", l2.LocalAddr(), l.LocalAddr())
	}
}

func TestListenerZeroAllocs(t *testing.T) {
	for _, spec := range []string{"127.0.0.1:0", ":0"} {
		l := listen1(t, spec, AnyFamily)
		c := client(t, "127.0.0.1")
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), l.LocalAddr().Port())
		if spec == "127.0.0.1:0" {
			to = l.LocalAddr()
		}
		req, b, cb := []byte("request"), make([]byte, 512), make([]byte, 512)
		var failed error
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := c.WriteToUDPAddrPort(req, to); err != nil {
				failed = err
				return
			}
			_, peer, local, _, err := l.ReadRequest(b)
			if err != nil {
				failed = err
				return
			}
			if err := l.WriteTo(req, peer, local); err != nil {
				failed = err
				return
			}
			if _, _, err := c.ReadFromUDPAddrPort(cb); err != nil {
				failed = err
			}
		})
		if failed != nil {
			t.Fatal(failed)
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request+reply; want 0", spec, allocs)
		}
	}
}

// cmsg encodes one control message for parsePktinfo tests.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = int32(level), int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func TestParsePktinfo(t *testing.T) {
	lo := loopbackInterface(t)
	in6 := func(a string, ifindex int) []byte {
		b := make([]byte, unix.SizeofInet6Pktinfo)
		a16 := netip.MustParseAddr(a).As16()
		copy(b, a16[:])
		binary.NativeEndian.PutUint32(b[16:], uint32(ifindex))
		return cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, b)
	}
	in4 := func(specDst, dst string, ifindex int) []byte {
		b := make([]byte, unix.SizeofInet4Pktinfo)
		binary.NativeEndian.PutUint32(b, uint32(ifindex))
		s4, d4 := netip.MustParseAddr(specDst).As4(), netip.MustParseAddr(dst).As4()
		copy(b[4:], s4[:])
		copy(b[8:], d4[:])
		return cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, b)
	}
	other := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMP, make([]byte, 16))
	bad := cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, 20))
	(*unix.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(1000)
	tests := []struct {
		name    string
		oob     []byte
		local   string
		ifindex int
	}{
		{"empty", nil, "", 0},
		{"link-local", in6("fe80::1", lo.Index), "fe80::1%" + lo.Name, lo.Index},
		{"link-local no index", in6("fe80::1", 0), "fe80::1", 0},
		{"global", in6("2001:db8::1", 7), "2001:db8::1", 7},
		{"mapped then ipv4", slices.Concat(in6("::ffff:10.0.0.255", 3), in4("10.0.0.1", "10.0.0.255", 3)), "10.0.0.1", 3},
		{"mapped only", in6("::ffff:10.0.0.1", 3), "10.0.0.1", 3},
		{"no spec_dst", in4("0.0.0.0", "10.0.0.2", 0), "10.0.0.2", 0},
		{"other first", slices.Concat(other, in4("10.0.0.1", "10.0.0.1", 2)), "10.0.0.1", 2},
		{"short", cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, 4)), "", 0},
		{"bad length", bad, "", 0},
	}
	var l Listener
	for _, tt := range tests {
		local, ifindex := l.parsePktinfo(tt.oob)
		var want netip.Addr
		if tt.local != "" {
			want = netip.MustParseAddr(tt.local)
		}
		if local != want || ifindex != tt.ifindex {
			t.Errorf("%s: parsePktinfo = %v, %d; want %v, %d", tt.name, local, ifindex, want, tt.ifindex)
		}
	}
}
