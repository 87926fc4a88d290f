package neigh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// entry is one neighbour as the kernel reports it in an RTM_NEWNEIGH.
type entry struct {
	family  uint8
	ifindex int32
	state   uint16
	dst     []byte // NDA_DST; nil: no attribute
	lladdr  []byte // NDA_LLADDR; nil: no attribute
}

// appendMsg appends one netlink message with a 4-byte aligned length.
func appendMsg(b []byte, typ uint16, seq uint32, body []byte) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, uint32(nlmsgHdrLen+len(body)))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, 2) // NLM_F_MULTI
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 4242)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendAttr appends one rtattr, padded.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint16(b, uint16(rtaHdrLen+len(v)))
	b = ne.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// appendNeigh appends the RTM_NEWNEIGH of e, with NDA_CACHEINFO (3) and
// NDA_PROBES (4) around the attributes that matter, as the kernel sends.
func appendNeigh(b []byte, seq uint32, e entry) []byte {
	ne := binary.NativeEndian
	body := []byte{e.family, 0, 0, 0}
	body = ne.AppendUint32(body, uint32(e.ifindex))
	body = ne.AppendUint16(body, e.state)
	body = append(body, 0, 1) // flags, type RTN_UNICAST
	if e.dst != nil {
		body = appendAttr(body, ndaDst, e.dst)
	}
	body = appendAttr(body, 3, make([]byte, 16))
	if e.lladdr != nil {
		body = appendAttr(body, ndaLladdr, e.lladdr)
	}
	body = appendAttr(body, 4, []byte{1, 0, 0, 0})
	return appendMsg(b, rtmNewNeigh, seq, body)
}

// errnoBody is the int32 error of NLMSG_DONE and NLMSG_ERROR.
func errnoBody(errno int32) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(errno)) }

func appendDone(b []byte, seq uint32, errno int32) []byte {
	return appendMsg(b, nlmsgDone, seq, errnoBody(errno))
}

var (
	mac1  = []byte{0x02, 0xfc, 0, 0, 0, 1}
	mac2  = []byte{0x02, 0xfc, 0, 0, 0, 2}
	v4    = netip.MustParseAddr("192.0.2.7")
	v6    = netip.MustParseAddr("2001:db8::7")
	other = netip.MustParseAddr("192.0.2.8")
)

func slice(a netip.Addr) []byte { return a.AsSlice() }

func TestAppendRequest(t *testing.T) {
	got := appendRequest([]byte{0xee}, afInet6, 7)
	ne := binary.NativeEndian
	want := []byte{0xee}
	want = ne.AppendUint32(want, 28)
	want = ne.AppendUint16(want, 30)    // RTM_GETNEIGH
	want = ne.AppendUint16(want, 0x301) // NLM_F_REQUEST|NLM_F_DUMP
	want = ne.AppendUint32(want, 7)
	want = ne.AppendUint32(want, 0)
	want = append(want, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendRequest = % x\nwant            % x", got, want)
	}
}

func TestParseDump(t *testing.T) {
	const seq = 9
	reach := func(ip netip.Addr, mac []byte) entry {
		f := uint8(afInet)
		if ip.Is6() {
			f = afInet6
		}
		return entry{family: f, ifindex: 2, state: nudReachable, dst: slice(ip), lladdr: mac}
	}
	with := func(e entry, f func(*entry)) entry { f(&e); return e }
	tests := []struct {
		name     string
		msgs     []byte
		target   target
		want     net.HardwareAddr
		wantDone bool
		wantErr  error
	}{
		{"found", appendNeigh(nil, seq, reach(v4, mac1)), target{ip: v4}, mac1, false, nil},
		{"found ipv6", appendNeigh(nil, seq, reach(v6, mac1)), target{ip: v6}, mac1, false, nil},
		{"after others", appendNeigh(appendNeigh(nil, seq, reach(other, mac2)), seq, reach(v4, mac1)), target{ip: v4}, mac1, false, nil},
		{"first wins", appendNeigh(appendNeigh(nil, seq, reach(v4, mac1)), seq, reach(v4, mac2)), target{ip: v4}, mac1, false, nil},
		{"not in this datagram", appendNeigh(nil, seq, reach(other, mac1)), target{ip: v4}, nil, false, nil},
		{"done", appendDone(appendNeigh(nil, seq, reach(other, mac1)), seq, 0), target{ip: v4}, nil, true, nil},
		{"empty", nil, target{ip: v4}, nil, false, nil},
		{"stale", appendNeigh(nil, seq, with(reach(v4, mac1), func(e *entry) { e.state = nudStale })), target{ip: v4}, mac1, false, nil},
		{"permanent", appendNeigh(nil, seq, with(reach(v4, mac1), func(e *entry) { e.state = nudPermanent })), target{ip: v4}, mac1, false, nil},
		{"incomplete", appendNeigh(nil, seq, with(reach(v4, nil), func(e *entry) { e.state = 0x01 })), target{ip: v4}, nil, false, nil},
		{"failed", appendNeigh(nil, seq, with(reach(v4, mac1), func(e *entry) { e.state = 0x20 })), target{ip: v4}, nil, false, nil},
		{"noarp", appendNeigh(nil, seq, with(reach(v4, make([]byte, 6)), func(e *entry) { e.state = 0x40 })), target{ip: v4}, nil, false, nil},
		{"zero mac", appendNeigh(nil, seq, reach(v4, make([]byte, 6))), target{ip: v4}, nil, false, nil},
		{"no lladdr", appendNeigh(nil, seq, reach(v4, nil)), target{ip: v4}, nil, false, nil},
		{"no dst", appendNeigh(nil, seq, with(reach(v4, mac1), func(e *entry) { e.dst = nil })), target{ip: v4}, nil, false, nil},
		{"family mismatch", appendNeigh(nil, seq, with(reach(v4, mac1), func(e *entry) { e.family = afInet6 })), target{ip: v4}, nil, false, nil},
		{"zone matches", appendNeigh(nil, seq, reach(v6, mac1)), target{ip: v6, ifindex: 2}, mac1, false, nil},
		{"zone differs", appendNeigh(nil, seq, reach(v6, mac1)), target{ip: v6, ifindex: 3}, nil, false, nil},
		{"other seq", appendDone(appendNeigh(nil, seq+1, reach(v4, mac1)), seq+1, -1), target{ip: v4}, nil, false, nil},
		{"other type", appendMsg(nil, 24, seq, make([]byte, 12)), target{ip: v4}, nil, false, nil},
		{"flagged attribute type", func() []byte {
			body := append([]byte{afInet, 0, 0, 0}, 2, 0, 0, 0, nudReachable, 0, 0, 1)
			body = appendAttr(body, ndaDst|0x4000, slice(v4))
			body = appendAttr(body, ndaLladdr, mac1)
			return appendMsg(nil, rtmNewNeigh, seq, body)
		}(), target{ip: v4}, mac1, false, nil},
		{"kernel error", appendDone(nil, seq, -int32(syscall.EPERM)), target{ip: v4}, nil, false, syscall.EPERM},
		{"nlmsg error", appendMsg(nil, nlmsgError, seq, append(errnoBody(-int32(syscall.EINVAL)), make([]byte, nlmsgHdrLen)...)), target{ip: v4}, nil, false, syscall.EINVAL},
		{"short header", []byte{1, 2, 3}, target{ip: v4}, nil, false, errMalformed},
		{"length too small", appendMsg(nil, rtmNewNeigh, seq, nil)[:15], target{ip: v4}, nil, false, errMalformed},
		{"length past end", appendNeigh(nil, seq, reach(v4, mac1))[:30], target{ip: v4}, nil, false, errMalformed},
		{"short ndmsg", appendMsg(nil, rtmNewNeigh, seq, make([]byte, 11)), target{ip: v4}, nil, false, errMalformed},
		{"short done", appendMsg(nil, nlmsgDone, seq, nil), target{ip: v4}, nil, false, errMalformed},
		{"attribute past end", func() []byte {
			body := append([]byte{afInet, 0, 0, 0}, 2, 0, 0, 0, nudReachable, 0, 0, 1)
			body = appendAttr(body, ndaDst, slice(v4))
			binary.NativeEndian.PutUint16(body[12:], 200)
			return appendMsg(nil, rtmNewNeigh, seq, body)
		}(), target{ip: v4}, nil, false, errMalformed},
		{"attribute too short", func() []byte {
			body := append([]byte{afInet, 0, 0, 0}, 2, 0, 0, 0, nudReachable, 0, 0, 1)
			return appendMsg(nil, rtmNewNeigh, seq, append(body, 2, 0, 1, 0))
		}(), target{ip: v4}, nil, false, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac, done, err := parseDump(tt.msgs, seq, tt.target)
			if !bytes.Equal(mac, tt.want) || done != tt.wantDone || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("parseDump = %v, %v, %v; want %v, %v, %v", mac, done, err, tt.want, tt.wantDone, tt.wantErr)
			}
		})
	}
}

// The returned address is a copy: the receive buffer is reused.
func TestParseDumpCopies(t *testing.T) {
	b := appendNeigh(nil, 1, entry{family: afInet, state: nudReachable, dst: slice(v4), lladdr: mac1})
	mac, _, err := parseDump(b, 1, target{ip: v4})
	if err != nil || mac == nil {
		t.Fatal(mac, err)
	}
	clear(b)
	if !bytes.Equal(mac, mac1) {
		t.Fatalf("address changed with the buffer: %v", mac)
	}
}

func TestTargetFor(t *testing.T) {
	lo, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Skip("no interface 1:", err)
	}
	tests := []struct {
		in   string
		want target
	}{
		{"192.0.2.1", target{ip: netip.MustParseAddr("192.0.2.1")}},
		{"::ffff:192.0.2.1", target{ip: netip.MustParseAddr("192.0.2.1")}},
		{"fe80::1%7", target{ip: netip.MustParseAddr("fe80::1"), ifindex: 7}},
		{"fe80::1%" + lo.Name, target{ip: netip.MustParseAddr("fe80::1"), ifindex: 1}},
		{"fe80::1%no-such-interface", target{ip: netip.MustParseAddr("fe80::1")}},
	}
	for _, tt := range tests {
		if got := targetFor(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("targetFor(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseDump(f *testing.F) {
	f.Add(appendDone(appendNeigh(nil, 1, entry{family: afInet, state: nudReachable, dst: slice(v4), lladdr: mac1}), 1, 0), uint8(0))
	f.Add(appendNeigh(nil, 1, entry{family: afInet6, ifindex: 3, state: nudStale, dst: slice(v6), lladdr: mac2}), uint8(3))
	f.Add(appendDone(nil, 1, -1), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, ifindex uint8) {
		for _, ip := range []netip.Addr{v4, v6} {
			tg := target{ip: ip, ifindex: int32(ifindex)}
			mac, done, err := parseDump(b, 1, tg)
			if mac != nil && (done || err != nil || !usable(mac) || !bytes.Contains(b, mac)) {
				t.Fatalf("parseDump = %v, %v, %v", mac, done, err)
			}
			if mac != nil {
				// Re-encoding what was found finds it again.
				e := entry{family: afInet, ifindex: tg.ifindex, state: nudReachable, dst: slice(ip), lladdr: mac}
				if ip.Is6() {
					e.family = afInet6
				}
				if again, _, err := parseDump(appendNeigh(nil, 1, e), 1, tg); err != nil || !bytes.Equal(again, mac) {
					t.Fatalf("round trip: %v, %v", again, err)
				}
			}
		}
	})
}
