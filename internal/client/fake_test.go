package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// fakeServer is a listener on 127.0.0.1:0 for scripted tests: accept reads
// one request and opens a new transfer socket (a Session whose "server" is
// the client) to answer it from.
type fakeServer struct {
	l    *net.UDPConn
	addr netip.AddrPort
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &fakeServer{l: l, addr: l.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// accept waits for a request and returns it with a transfer socket.
func (f *fakeServer) accept(t *testing.T) (*proto.Request, *Session) {
	t.Helper()
	f.l.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, from, err := f.l.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	req, err := proto.ParseRequest(buf[:n])
	if err != nil && !errors.Is(err, proto.ErrUnknownMode) {
		t.Fatalf("accept: %v", err)
	}
	tid, err := NewSession(netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tid.Close() })
	return req, tid
}

// expect reads the next packet on s and checks its opcode and block.
func expect(t *testing.T, s *Session, op proto.Opcode, block uint16) Packet {
	t.Helper()
	p, err := s.RecvPacket(5 * time.Second)
	if err != nil {
		t.Fatalf("want %v %d: %v", op, block, err)
	}
	if p.Op != op || ((op == proto.OpACK || op == proto.OpDATA) && p.Block != block) {
		t.Fatalf("got %v %d (% x), want %v %d", p.Op, p.Block, p.Raw, op, block)
	}
	return p
}

// expectNothing checks that nothing arrives on s for a short while.
func expectNothing(t *testing.T, s *Session) {
	t.Helper()
	if p, err := s.RecvPacket(150 * time.Millisecond); err == nil {
		t.Fatalf("unexpected %v %d (% x)", p.Op, p.Block, p.Raw)
	} else if !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
}

type getResult struct {
	res Result
	err error
	out []byte
}

// startGet runs Get in a goroutine; wait returns its outcome.
func startGet(t *testing.T, ctx context.Context, server netip.AddrPort, file string, opts Options) func() getResult {
	t.Helper()
	ch := make(chan getResult, 1)
	go func() {
		var buf bytes.Buffer
		res, err := Get(ctx, server, file, opts, &buf)
		ch <- getResult{res, err, buf.Bytes()}
	}()
	return func() getResult {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("Get did not return")
			return getResult{}
		}
	}
}

// senderCfg configures refSend, a correct reference RRQ sender with fault
// injection.
type senderCfg struct {
	content   []byte
	noOptions bool                             // ignore every option (no OACK)
	drop      func(i uint64, attempt int) bool // drop this transmission of block i
	dupe      func(i uint64) bool              // send block i twice
	timeout   time.Duration                    // retransmit timeout (default 100 ms)
}

// refSend serves one RRQ from f with a window sender; it returns the ACK
// numbers it received.
func refSend(t *testing.T, f *fakeServer, cfg senderCfg) []uint16 {
	t.Helper()
	req, tid := f.accept(t)
	if cfg.timeout == 0 {
		cfg.timeout = 100 * time.Millisecond
	}
	p := proto.DefaultParams()
	if !cfg.noOptions {
		p = proto.Negotiate(proto.OpRRQ, req.Options, proto.Limits{MaxWindowsize: 65535}, int64(len(cfg.content)))
	}
	roll := uint16(p.Rollover)
	var acks []uint16
	recvAck := func() (uint16, bool) {
		for {
			pk, err := tid.RecvPacket(cfg.timeout)
			if err != nil {
				return 0, false
			}
			if pk.From != tid.Server() {
				continue
			}
			if pk.Op == proto.OpERROR {
				t.Fatalf("client sent ERROR %d %q", pk.Error.Code, pk.Error.Message)
			}
			if pk.Op != proto.OpACK {
				t.Fatalf("client sent %v", pk.Op)
			}
			acks = append(acks, pk.Block)
			return pk.Block, true
		}
	}
	if len(p.Acked) > 0 {
		pkt := proto.AppendOACK(nil, p.Acked)
		for try := 0; ; try++ {
			if try > 20 {
				t.Fatal("no ACK 0")
			}
			tid.Send(pkt)
			if n, ok := recvAck(); ok && n == 0 {
				break
			}
		}
	}
	nblocks := uint64(len(cfg.content)/p.Blksize) + 1
	attempts := map[uint64]int{}
	send := func(i uint64) {
		lo := int(i-1) * p.Blksize
		hi := min(lo+p.Blksize, len(cfg.content))
		attempts[i]++
		if cfg.drop != nil && cfg.drop(i, attempts[i]) {
			return
		}
		pkt := proto.AppendData(nil, wire(i, roll), cfg.content[lo:hi])
		tid.Send(pkt)
		if cfg.dupe != nil && cfg.dupe(i) {
			tid.Send(pkt)
		}
	}
	var acked uint64
	for rounds := 0; acked < nblocks; rounds++ {
		if rounds > int(nblocks)*4+100 {
			t.Fatal("reference sender: too many rounds")
		}
		last := min(acked+uint64(p.Windowsize), nblocks)
		for i := acked + 1; i <= last; i++ {
			send(i)
		}
		for {
			n, ok := recvAck()
			if !ok {
				break // timeout: resend the window
			}
			j, ok := index(n, acked, last, roll)
			if !ok || j == acked {
				continue
			}
			acked = j
			break
		}
	}
	return acks
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func opt(name string, v int) proto.Option { return proto.Option{Name: name, Value: strconv.Itoa(v)} }
