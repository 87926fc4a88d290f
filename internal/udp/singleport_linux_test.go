package udp

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// singlePortT reads one request on l from c, makes the single-port session
// socket for it as the master does (bound to the local address the request
// was sent to and l's port, connected to c) and wraps it in a SessionConn.
// It returns the conn and the master's copy of the socket.
func singlePortT(t *testing.T, l *Listener, c *net.UDPConn, dst netip.Addr) (*SessionConn, netip.AddrPort) {
	t.Helper()
	to := netip.AddrPortFrom(dst, l.LocalAddr().Port())
	send(t, c, []byte("rrq"), to)
	b := make([]byte, 64)
	n, peer, local, _, err := l.ReadRequest(b)
	if err != nil || string(b[:n]) != "rrq" || peer != clientAddr(c) {
		t.Fatalf("ReadRequest = %q, %v, %v; want rrq from %v", b[:n], peer, err, clientAddr(c))
	}
	bound := netip.AddrPortFrom(local, l.LocalAddr().Port())
	f, err := NewSinglePortSocket(bound, peer)
	if err != nil {
		t.Fatalf("NewSinglePortSocket(%v, %v): %v", bound, peer, err)
	}
	t.Cleanup(func() { f.Close() })
	if got, err := SinglePortPeer(f); err != nil || got != peer {
		t.Errorf("SinglePortPeer = %v, %v; want %v", got, err, peer)
	}
	s, err := NewSessionConn(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.LocalAddr() != to {
		t.Errorf("session socket on %v; want %v", s.LocalAddr(), to)
	}
	return s, to
}

// TestSinglePort: the client's datagrams reach its session socket, another
// client's reach the listener, and the session's replies come from the
// listening address and port; for specific and wildcard listeners, IPv4,
// IPv6 and IPv4 on a dual-stack socket.
func TestSinglePort(t *testing.T) {
	for _, tc := range []struct {
		name, listen, from, dst string
	}{
		{"ipv4", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"},
		{"ipv4 wildcard", "0.0.0.0:0", "127.0.0.1", "127.0.0.2"},
		{"dual stack, ipv4 client", "[::]:0", "127.0.0.1", "127.0.0.3"},
		{"dual stack, ipv6 client", "[::]:0", "::1", "::1"},
		{"ipv6", "[::1]:0", "::1", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if netip.MustParseAddr(tc.from).Is6() || tc.listen == "[::]:0" {
				need6(t)
			}
			l := listen1(t, tc.listen, AnyFamily)
			if err := l.EnableSinglePort(); err != nil {
				t.Fatal(err)
			}
			peer, other := client(t, tc.from), client(t, tc.from)
			s, to := singlePortT(t, l, peer, netip.MustParseAddr(tc.dst))

			send(t, other, []byte("other rrq"), to)
			send(t, peer, []byte("ack"), to)
			b := make([]byte, 64)
			n, from, err := s.ReadPacket(b, deadline())
			if err != nil || string(b[:n]) != "ack" || from != clientAddr(peer) {
				t.Errorf("session read %q from %v, %v; want ack from %v", b[:n], from, err, clientAddr(peer))
			}
			n, from, _, _, err = l.ReadRequest(b)
			if err != nil || string(b[:n]) != "other rrq" || from != clientAddr(other) {
				t.Errorf("listener read %q from %v, %v; want the other client's request", b[:n], from, err)
			}
			if err := s.WritePacket([]byte("data"), clientAddr(peer)); err != nil {
				t.Fatal(err)
			}
			if msg, src := recv(t, peer); msg != "data" || src != to {
				t.Errorf("client got %q from %v; want data from %v", msg, src, to)
			}
		})
	}
}

// TestSinglePortTwoSessionsOneAddress: two sessions of one client address
// on two ports each get their own datagrams.
func TestSinglePortTwoSessionsOneAddress(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	if err := l.EnableSinglePort(); err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddr("127.0.0.1")
	c1, c2 := client(t, "127.0.0.1"), client(t, "127.0.0.1")
	s1, to := singlePortT(t, l, c1, dst)
	s2, _ := singlePortT(t, l, c2, dst)
	for range 3 {
		send(t, c2, []byte("two"), to)
		send(t, c1, []byte("one"), to)
	}
	for _, x := range []struct {
		s    *SessionConn
		c    *net.UDPConn
		want string
	}{{s1, c1, "one"}, {s2, c2, "two"}} {
		for range 3 {
			b := make([]byte, 64)
			n, from, err := x.s.ReadPacket(b, deadline())
			if err != nil || string(b[:n]) != x.want || from != clientAddr(x.c) {
				t.Fatalf("read %q from %v, %v; want %q from %v", b[:n], from, err, x.want, clientAddr(x.c))
			}
		}
	}
}

// TestSinglePortNeedsListenerOption: without EnableSinglePort on the
// listener the session socket cannot bind its port.
func TestSinglePortNeedsListenerOption(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	peer := clientAddr(client(t, "127.0.0.1"))
	f, err := NewSinglePortSocket(l.LocalAddr(), peer)
	if !errors.Is(err, unix.EADDRINUSE) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("NewSinglePortSocket without SO_REUSEPORT on the listener: %v; want EADDRINUSE", err)
	}
}

// TestSinglePortInherited: an inherited listener (inetd, systemd) bound
// without SO_REUSEPORT gets it afterwards.
func TestSinglePortInherited(t *testing.T) {
	orig, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := orig.File()
	orig.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, err := FromFile(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	l.SetReadDeadline(time.Now().Add(testTimeout))
	if err := l.EnableSinglePort(); err != nil {
		t.Fatal(err)
	}
	peer, other := client(t, "127.0.0.1"), client(t, "127.0.0.1")
	s, to := singlePortT(t, l, peer, netip.MustParseAddr("127.0.0.1"))
	send(t, other, []byte("other"), to)
	send(t, peer, []byte("ack"), to)
	b := make([]byte, 64)
	if n, _, err := s.ReadPacket(b, deadline()); err != nil || string(b[:n]) != "ack" {
		t.Errorf("session read %q, %v", b[:n], err)
	}
	if n, _, _, _, err := l.ReadRequest(b); err != nil || string(b[:n]) != "other" {
		t.Errorf("listener read %q, %v", b[:n], err)
	}
}

// control runs fn on s's descriptor (a worker's raw access to its socket).
func control(s *SessionConn, fn func(fd uintptr)) { fn(uintptr(s.fd)) }

// dupFile is a copy of s's descriptor, as the master keeps one.
func dupFile(t *testing.T, s *SessionConn) *os.File {
	t.Helper()
	fd, err := unix.Dup(s.fd)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "session")
}

// disconnect does what a hostile worker could: connect(AF_UNSPEC).
func disconnect(t *testing.T, s *SessionConn) {
	t.Helper()
	var errno unix.Errno
	control(s, func(fd uintptr) {
		var sa unix.RawSockaddrInet6 // sa_family 0: AF_UNSPEC
		_, _, errno = unix.Syscall(unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	})
	if errno != 0 {
		t.Fatalf("connect(AF_UNSPEC): %v", errno)
	}
}

// TestSinglePortFilterLocked: a worker that disconnects its socket (which
// then takes every request sent to the address) still reads nothing but
// its client's datagrams, cannot remove the filter, and the master sees
// the change in SinglePortPeer.
func TestSinglePortFilterLocked(t *testing.T) {
	l := listen1(t, "0.0.0.0:0", AnyFamily)
	if err := l.EnableSinglePort(); err != nil {
		t.Fatal(err)
	}
	peer, other := client(t, "127.0.0.1"), client(t, "127.0.0.1")
	s, to := singlePortT(t, l, peer, netip.MustParseAddr("127.0.0.1"))
	disconnect(t, s)
	var derr, lerr error
	control(s, func(fd uintptr) {
		derr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		lerr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 0)
	})
	if !errors.Is(derr, unix.EPERM) || !errors.Is(lerr, unix.EPERM) {
		t.Errorf("detach: %v, unlock: %v; want EPERM for both", derr, lerr)
	}
	f := dupFile(t, s)
	defer f.Close()
	if got, err := SinglePortPeer(f); err != nil || got.IsValid() {
		t.Errorf("SinglePortPeer of a disconnected socket = %v, %v; want none", got, err)
	}
	send(t, other, []byte("stranger"), to)
	send(t, peer, []byte("ack"), to)
	b := make([]byte, 64)
	n, from, err := s.ReadPacket(b, deadline())
	if err != nil || string(b[:n]) != "ack" || from != clientAddr(peer) {
		t.Errorf("read %q from %v, %v; want only the client's ack", b[:n], from, err)
	}
}

// TestDrainSinglePort: retiring a session socket sends the client's later
// datagrams to the listener, and hands over what was queued.
func TestDrainSinglePort(t *testing.T) {
	l := listen1(t, "127.0.0.1:0", AnyFamily)
	if err := l.EnableSinglePort(); err != nil {
		t.Fatal(err)
	}
	peer := client(t, "127.0.0.1")
	s, to := singlePortT(t, l, peer, netip.MustParseAddr("127.0.0.1"))
	send(t, peer, []byte("queued rrq"), to)
	// Wait until it is queued: the session reads it with MSG_PEEK.
	waitQueued(t, s)
	f := dupFile(t, s)
	defer f.Close()
	var got []string
	if err := DrainSinglePort(f, false, func(pkt []byte, from netip.AddrPort) {
		if from != clientAddr(peer) {
			t.Errorf("drained a datagram from %v", from)
		}
		got = append(got, string(pkt))
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "queued rrq" {
		t.Fatalf("drained %q", got)
	}
	send(t, peer, []byte("queued too"), to)
	waitQueued(t, s)
	got = nil
	if err := DrainSinglePort(f, true, func(pkt []byte, _ netip.AddrPort) { got = append(got, string(pkt)) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "queued too" {
		t.Fatalf("retired: drained %q", got)
	}
	if p, err := SinglePortPeer(f); err != nil || p != to {
		t.Errorf("retired socket connected to %v, %v; want itself, %v", p, err, to)
	}
	send(t, peer, []byte("new rrq"), to)
	b := make([]byte, 64)
	if n, from, _, _, err := l.ReadRequest(b); err != nil || string(b[:n]) != "new rrq" || from != clientAddr(peer) {
		t.Errorf("listener read %q from %v, %v; want the client's new request", b[:n], from, err)
	}
}

// waitQueued waits until a datagram is queued on s.
func waitQueued(t *testing.T, s *SessionConn) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var n int
		control(s, func(fd uintptr) {
			var b [1]byte
			n, _, _ = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		})
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing queued")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPeerFilterShape(t *testing.T) {
	for _, p := range []string{"192.0.2.1:69", "[2001:db8::1]:1024"} {
		prog := peerFilter(netip.MustParseAddrPort(p))
		last := len(prog) - 1
		if prog[last].Code != unix.BPF_RET|unix.BPF_K || prog[last].K != 0 || prog[last-1].K == 0 {
			t.Errorf("%s: does not end with accept, drop", p)
		}
		for i, ins := range prog {
			if ins.Code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K && i+1+int(ins.Jf) != last {
				t.Errorf("%s: instruction %d jumps to %d on a mismatch, not to the drop", p, i, i+1+int(ins.Jf))
			}
		}
	}
}
