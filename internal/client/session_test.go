package client

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

func TestSessionPackets(t *testing.T) {
	f := newFakeServer(t)
	s, err := NewSession(f.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Server() != f.addr || !s.LocalAddr().Addr().IsLoopback() || s.Conn() == nil {
		t.Fatalf("server %v local %v", s.Server(), s.LocalAddr())
	}
	if err := s.SendRequest(proto.OpRRQ, "file", "mail", []proto.Option{opt("blksize", 8)}); err != nil {
		t.Fatal(err)
	}
	req, tid := f.accept(t)
	if req.RawMode != "mail" || req.Filename != "file" {
		t.Fatalf("request %+v", req)
	}
	if tid.Server() != s.LocalAddr() {
		t.Fatalf("tid talks to %v, want %v", tid.Server(), s.LocalAddr())
	}
	sends := []struct {
		pkt   []byte
		check func(p Packet) bool
	}{
		{proto.AppendData(nil, 7, []byte("hi")), func(p Packet) bool { return p.Op == proto.OpDATA && p.Block == 7 && string(p.Payload) == "hi" }},
		{proto.AppendAck(nil, 9), func(p Packet) bool { return p.Op == proto.OpACK && p.Block == 9 }},
		{proto.AppendError(nil, 2, "no"), func(p Packet) bool { return p.Op == proto.OpERROR && p.Error.Code == 2 && p.Error.Message == "no" }},
		{proto.AppendOACK(nil, []proto.Option{opt("tsize", 5)}), func(p Packet) bool { return p.Op == proto.OpOACK && p.Options[0].Value == "5" }},
		{proto.AppendRequest(nil, proto.OpWRQ, "x", "octet", []proto.Option{opt("a", 1)}), func(p Packet) bool { return p.Op == proto.OpWRQ && len(p.Options) == 1 }},
	}
	for _, sd := range sends {
		if err := tid.Send(sd.pkt); err != nil {
			t.Fatal(err)
		}
		p, err := s.RecvPacket(5 * time.Second)
		if err != nil || !sd.check(p) || p.From != tid.LocalAddr() {
			t.Fatalf("sent % x, got %+v, %v", sd.pkt, p, err)
		}
	}
	for _, bad := range [][]byte{{0}, {0, 9}, {0, 3, 1}, {0, 4}, {0, 5, 0}, {0, 6, 'a'}, {0, 1, 'x'}} {
		tid.Send(bad)
		p, err := s.RecvPacket(5 * time.Second)
		if !errors.Is(err, proto.ErrMalformed) || string(p.Raw) != string(bad) {
			t.Errorf("% x: %v", bad, err)
		}
	}
	if _, _, err := s.Recv(time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("recv: %v", err)
	}
	s.Close()
	if _, err := s.RecvPacket(0); err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("recv on closed: %v", err)
	}
	if err := s.SendAck(tid.LocalAddr(), 1); err == nil {
		t.Fatal("send on closed")
	}
}

func TestSessionFamilies(t *testing.T) {
	for _, tc := range []struct {
		server, local string
		wantLocal     string // prefix of the chosen address
		fail          bool
	}{
		{"127.0.0.1:69", "", "127.0.0.1", false},
		{"[::1]:69", "", "::1", false},
		{"[::ffff:127.0.0.1]:69", "", "127.0.0.1", false},
		{"192.0.2.1:69", "", "0.0.0.0", false},
		{"[2001:db8::1]:69", "", "::", false},
		{"127.0.0.1:69", "[::1]:0", "", true},
		{"127.0.0.1:0", "", "", true},
	} {
		var local netip.AddrPort
		if tc.local != "" {
			local = netip.MustParseAddrPort(tc.local)
		}
		s, err := NewSession(netip.MustParseAddrPort(tc.server), local)
		if tc.fail {
			if err == nil {
				s.Close()
				t.Errorf("%s/%s: no error", tc.server, tc.local)
			}
			continue
		}
		if err != nil {
			if tc.wantLocal == "::1" || tc.wantLocal == "::" {
				t.Logf("no IPv6: %v", err)
				continue
			}
			t.Fatal(err)
		}
		if s.LocalAddr().Addr().String() != tc.wantLocal {
			t.Errorf("%s: local %v, want %s", tc.server, s.LocalAddr(), tc.wantLocal)
		}
		s.Close()
	}
}

func TestGetIPv6(t *testing.T) {
	s, err := NewSession(netip.MustParseAddrPort("[::1]:69"), netip.AddrPort{})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s.Close()
	l, err := NewSession(netip.MustParseAddrPort("[::1]:9"), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait := startGet(t, testCtx(t), l.LocalAddr(), "six", Options{})
	_, from, err := l.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l.SendData(from, 1, []byte("v6"))
	if r := wait(); r.err != nil || string(r.out) != "v6" || r.res.Peer != l.LocalAddr() {
		t.Fatalf("got %q %+v %v", r.out, r.res, r.err)
	}
}
