package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// payload returns n deterministic pseudo-random bytes.
func payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// onlyReader hides io.ReaderAt so Send uses its ring buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type sendCase struct {
	size     int
	params   proto.Params
	ring     bool
	fault    fault
	setup    func(n *simNet, c *rrqClient)
	ctx      context.Context
	clientFn func(c *rrqClient)
	config   Config // Clock is set by runSend
	batch    bool   // the conn is a BatchWriter
}

type sendResult struct {
	batches int // WriteBatch calls
	n       *simNet
	c       *rrqClient
	st      stats.SessionStats
	err     error
	src     []byte
}

func runSend(t *testing.T, tc sendCase) sendResult {
	t.Helper()
	p := tc.params
	if p.Blksize == 0 {
		p.Blksize = 512
	}
	if p.Windowsize == 0 {
		p.Windowsize = 1
	}
	if p.Tsize == 0 && len(p.Acked) == 0 {
		p.Tsize = -1
	}
	n := newSimNet()
	n.fault = tc.fault
	c := newRRQClient(n, p)
	if tc.clientFn != nil {
		tc.clientFn(c)
	}
	if tc.setup != nil {
		tc.setup(n, c)
	}
	data := payload(tc.size)
	var src io.Reader = bytes.NewReader(data)
	if tc.ring {
		src = onlyReader{src}
	}
	var st stats.SessionStats
	cfg := tc.config
	cfg.Clock = n
	var conn PacketConn = n.conn()
	bc := &simBatchConn{simConn: n.conn()}
	if tc.batch {
		conn = bc
	}
	tr := &Transfer{Conn: conn, Peer: clientAddr, Params: p, Config: cfg, Stats: &st}
	ctx := tc.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err := tr.Send(ctx, src)
	n.drain()
	return sendResult{n: n, c: c, st: st, err: err, src: data, batches: bc.batches}
}

func blocksFor(size, blk int) int { return size/blk + 1 }

func TestSendExact(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 513, 5120, 100_003} {
		for _, blk := range []int{8, 512, 1468} {
			for _, w := range []int{1, 4, 16, 64} {
				for _, mode := range []int{0, 1, 2} { // ReadAt, ring, ReadAt + batches
					ring, batch := mode == 1, mode == 2
					if blk == 8 && size > 6000 {
						continue
					}
					name := fmt.Sprintf("size%d/blk%d/win%d/ring%v/batch%v", size, blk, w, ring, batch)
					t.Run(name, func(t *testing.T) {
						p := proto.Params{Blksize: blk, Windowsize: w, Tsize: -1}
						r := runSend(t, sendCase{size: size, params: p, ring: ring, batch: batch})
						if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
							t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
						}
						if !bytes.Equal(r.c.got.Bytes(), r.src) {
							t.Fatalf("delivered %d bytes, want %d (content differs)", r.c.got.Len(), size)
						}
						want := blocksFor(size, blk)
						if got := r.n.sent[proto.OpDATA]; got != want {
							t.Errorf("DATA sent %d, want %d", got, want)
						}
						if r.st.Retransmits != 0 || r.st.Bytes != uint64(size) {
							t.Errorf("retransmits %d bytes %d", r.st.Retransmits, r.st.Bytes)
						}
						if r.st.PacketsSent != uint64(want) || r.st.PacketsReceived != uint64(r.c.acks) {
							t.Errorf("packets sent %d recv %d, client acks %d", r.st.PacketsSent, r.st.PacketsReceived, r.c.acks)
						}
						// A batch per window (64 KiB at most), when there
						// is more than one packet to send.
						if batch && w > 1 && want > 1 && (r.batches == 0 || r.batches > want/2+1) {
							t.Errorf("%d batches for %d packets", r.batches, want)
						}
					})
				}
			}
		}
	}
}

// nthFault returns a fault acting on the listed packet numbers of one kind.
func nthFault(dir string, op proto.Opcode, act action, d time.Duration, nths ...int) fault {
	return func(fd string, fop proto.Opcode, nth int, _ []byte) (action, time.Duration) {
		if fd == dir && fop == op {
			for _, x := range nths {
				if x == nth || x == -1 {
					return act, d
				}
			}
		}
		return deliver, 0
	}
}

func lossy(seed uint64, rate float64) fault {
	r := rand.New(rand.NewPCG(seed, 1))
	return func(string, proto.Opcode, int, []byte) (action, time.Duration) {
		x := r.Float64()
		switch {
		case x < rate:
			return drop, 0
		case x < rate*1.5:
			return duplicate, 0
		case x < rate*2:
			return delay, time.Duration(r.IntN(5000)) * time.Microsecond
		}
		return deliver, 0
	}
}

func TestSendFaults(t *testing.T) {
	const size = 512*40 + 100
	blocks := blocksFor(size, 512)
	cases := []struct {
		name   string
		window int
		fault  fault
		check  func(t *testing.T, r sendResult)
	}{
		{"drop DATA 3", 1, nthFault(toClient, proto.OpDATA, drop, 0, 3), func(t *testing.T, r sendResult) {
			if r.st.Retransmits != 1 {
				t.Errorf("retransmits %d, want 1", r.st.Retransmits)
			}
		}},
		{"drop ACK 5", 1, nthFault(toServer, proto.OpACK, drop, 0, 5), func(t *testing.T, r sendResult) {
			// The client re-ACKs after its own timeout or the server resends
			// on its own: one retransmission at most.
			if r.st.Retransmits > 1 {
				t.Errorf("retransmits %d", r.st.Retransmits)
			}
		}},
		{"duplicate every ACK: no Sorcerer's Apprentice", 1, nthFault(toServer, proto.OpACK, duplicate, 0, -1), func(t *testing.T, r sendResult) {
			if got := r.n.sent[proto.OpDATA]; got != blocks {
				t.Errorf("DATA sent %d, want exactly %d", got, blocks)
			}
		}},
		{"duplicate every DATA (client re-ACKs dups)", 1, nthFault(toClient, proto.OpDATA, duplicate, 0, -1), func(t *testing.T, r sendResult) {
			if got := r.n.sent[proto.OpDATA]; got != blocks {
				t.Errorf("DATA sent %d, want exactly %d", got, blocks)
			}
		}},
		{"delay ACK 4 past the timeout", 1, nthFault(toServer, proto.OpACK, delay, 1500*time.Millisecond, 4), func(t *testing.T, r sendResult) {
			if got := r.n.sent[proto.OpDATA]; got > blocks+1 {
				t.Errorf("DATA sent %d, want at most %d", got, blocks+1)
			}
		}},
		{"drop final ACK", 1, nthFault(toServer, proto.OpACK, drop, 0, blocks), func(t *testing.T, r sendResult) {
			if r.st.Retransmits != 1 {
				t.Errorf("retransmits %d, want 1 (the final block)", r.st.Retransmits)
			}
		}},
		{"window 16: drop DATA 5 (gap ACK restarts)", 16, nthFault(toClient, proto.OpDATA, drop, 0, 5), func(t *testing.T, r sendResult) {
			if r.st.Retransmits > 16 {
				t.Errorf("retransmits %d", r.st.Retransmits)
			}
		}},
		{"window 16: duplicate every ACK", 16, nthFault(toServer, proto.OpACK, duplicate, 0, -1), func(t *testing.T, r sendResult) {
			if got := r.n.sent[proto.OpDATA]; got != blocks {
				t.Errorf("DATA sent %d, want exactly %d", got, blocks)
			}
		}},
		{"window 4: drop window ACK", 4, nthFault(toServer, proto.OpACK, drop, 0, 2), func(t *testing.T, r sendResult) {
			if r.st.Retransmits > 4 {
				t.Errorf("retransmits %d", r.st.Retransmits)
			}
		}},
		{"window 4: reorder DATA", 4, nthFault(toClient, proto.OpDATA, delay, 120*time.Microsecond, 2, 7, 13), nil},
		{"window 64: drop final ACK", 64, nthFault(toServer, proto.OpACK, drop, 0, 2), nil},
	}
	for _, tc := range cases {
		for _, mode := range []int{0, 1, 2} { // ReadAt, ring, ReadAt + batches
			ring, batch := mode == 1, mode == 2
			t.Run(fmt.Sprintf("%s/ring%v/batch%v", tc.name, ring, batch), func(t *testing.T) {
				r := runSend(t, sendCase{size: size, params: proto.Params{Windowsize: tc.window, Tsize: -1}, ring: ring, batch: batch, fault: tc.fault})
				if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
					t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
				}
				if !bytes.Equal(r.c.got.Bytes(), r.src) {
					t.Fatalf("content differs: got %d bytes", r.c.got.Len())
				}
				if got := r.n.sent[proto.OpDATA]; uint64(got) != uint64(blocks)+r.st.Retransmits {
					t.Errorf("DATA sent %d != blocks %d + retransmits %d", got, blocks, r.st.Retransmits)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
			})
		}
	}
}

func TestSendLossyNetwork(t *testing.T) {
	for _, w := range []int{1, 4, 16, 64} {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("win%d/seed%d", w, seed), func(t *testing.T) {
				const size = 300_000
				r := runSend(t, sendCase{size: size, params: proto.Params{Windowsize: w, Blksize: 1468, Tsize: -1}, fault: lossy(seed, 0.05), ring: seed%2 == 1, batch: seed%3 == 0})
				if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
					t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
				}
				if !bytes.Equal(r.c.got.Bytes(), r.src) {
					t.Fatalf("content differs")
				}
				// Bounded work: every ACK or timeout releases one window at
				// most, so losses cannot multiply the traffic.
				bound := w * (int(r.st.PacketsReceived) + r.n.timeouts + 1)
				if got := r.n.sent[proto.OpDATA]; got > bound {
					t.Errorf("DATA sent %d > %d", got, bound)
				}
			})
		}
	}
}

func TestSendRollover(t *testing.T) {
	const blocks = 70_000
	for _, rc := range []struct {
		rollover int
		window   int
	}{{0, 1}, {1, 1}, {0, 16}, {1, 16}} {
		t.Run(fmt.Sprintf("rollover%d/win%d", rc.rollover, rc.window), func(t *testing.T) {
			size := blocks*8 + 3
			p := proto.Params{Blksize: 8, Windowsize: rc.window, Rollover: rc.rollover, Tsize: -1}
			var fault fault
			if rc.window > 1 {
				// Lose blocks around the wrap so recovery crosses it.
				fault = nthFault(toClient, proto.OpDATA, drop, 0, 65534, 65536, 65537)
			}
			r := runSend(t, sendCase{size: size, params: p, fault: fault})
			if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
				t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
			}
			if !bytes.Equal(r.c.got.Bytes(), r.src) {
				t.Fatalf("content differs: %d bytes", r.c.got.Len())
			}
			want := uint16((blocks + 1) % 65536)
			if rc.rollover == 1 {
				want = uint16((blocks+1-1)%65535 + 1)
			}
			if r.c.final != want {
				t.Errorf("final wire block %d, want %d", r.c.final, want)
			}
		})
	}
}

func TestSendClientVanishes(t *testing.T) {
	// Whatever the policy, the session gives up 63 s (63 times -T) after
	// the last progress, as in.tftpd does. The fixed policy sends the
	// window 1 + 5 times (after 1, 2, 4, 8, 16 s); the adaptive one starts
	// from InitialRTO (no measurement yet) and doubles: 0.25, 0.5, 1, 2,
	// 4, 8, 16 s, so 1 + 7 times.
	for _, pc := range []struct {
		policy Retransmit
		sends  int
	}{{RetransmitFixed, 6}, {RetransmitAdaptive, 8}} {
		for _, w := range []int{1, 16} {
			t.Run(fmt.Sprintf("%v/win%d", pc.policy, w), func(t *testing.T) {
				start := newSimNet().now
				r := runSend(t, sendCase{size: 100_000, params: proto.Params{Windowsize: w, Tsize: -1}, config: Config{Retransmit: pc.policy},
					clientFn: func(c *rrqClient) { c.mute = true }})
				if !errors.Is(r.err, ErrTimeout) || r.st.Outcome != stats.OutcomeTimeout {
					t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
				}
				if got, want := r.n.sent[proto.OpDATA], pc.sends*w; got != want {
					t.Errorf("DATA sent %d, want %d", got, want)
				}
				if got := r.n.now.Sub(start); got != 63*time.Second {
					t.Errorf("gave up after %v, want 63s", got)
				}
			})
		}
	}
}

func TestSendOACK(t *testing.T) {
	acked := []proto.Option{{Name: "tsize", Value: "1000"}, {Name: "blksize", Value: "1024"}}
	t.Run("negotiated", func(t *testing.T) {
		r := runSend(t, sendCase{size: 1000, params: proto.Params{Blksize: 1024, Windowsize: 1, Tsize: 1000, Acked: acked}})
		if r.err != nil || r.st.Outcome != stats.OutcomeSuccess || !bytes.Equal(r.c.got.Bytes(), r.src) {
			t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
		}
		if len(r.c.oack) != 2 || r.c.oack[0] != acked[0] {
			t.Errorf("client saw OACK %v", r.c.oack)
		}
		if r.st.Tsize != 1000 || len(r.st.OptionsAcked) != 2 {
			t.Errorf("stats %+v", r.st)
		}
	})
	t.Run("OACK lost", func(t *testing.T) {
		r := runSend(t, sendCase{size: 1000, params: proto.Params{Blksize: 1024, Windowsize: 1, Tsize: 1000, Acked: acked},
			fault: nthFault(toClient, proto.OpOACK, drop, 0, 1)})
		if r.err != nil || r.st.Outcome != stats.OutcomeSuccess || r.st.Retransmits != 1 || r.n.sent[proto.OpOACK] != 2 {
			t.Fatalf("err %v outcome %q retransmits %d", r.err, r.st.Outcome, r.st.Retransmits)
		}
	})
	t.Run("UEFI probe", func(t *testing.T) {
		r := runSend(t, sendCase{size: 1000, params: proto.Params{Blksize: 1024, Windowsize: 1, Tsize: 1000, Acked: acked},
			clientFn: func(c *rrqClient) { c.probe = true }})
		if r.err != nil || r.st.Outcome != stats.OutcomeProbe || r.st.ErrorCode != proto.ErrOptionRefused {
			t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
		}
		if r.n.sent[proto.OpERROR] != 0 || r.n.sent[proto.OpDATA] != 0 {
			t.Errorf("server answered the probe's ERROR: %v", r.n.sent)
		}
	})
	t.Run("ERROR 8 without tsize is a client error", func(t *testing.T) {
		p := proto.Params{Blksize: 1024, Windowsize: 1, Tsize: -1, Acked: acked[1:]}
		r := runSend(t, sendCase{size: 1000, params: p, clientFn: func(c *rrqClient) { c.probe = true }})
		var ce *tftp.Error
		if !errors.As(r.err, &ce) || !ce.Remote || r.st.Outcome != stats.OutcomeClientError {
			t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
		}
	})
	t.Run("client vanishes after OACK", func(t *testing.T) {
		r := runSend(t, sendCase{size: 1000, params: proto.Params{Blksize: 1024, Windowsize: 1, Tsize: 1000, Acked: acked},
			config: Config{Retransmit: RetransmitFixed}, clientFn: func(c *rrqClient) { c.mute = true }})
		if !errors.Is(r.err, ErrTimeout) || r.n.sent[proto.OpOACK] != 6 {
			t.Fatalf("err %v OACKs %d", r.err, r.n.sent[proto.OpOACK])
		}
	})
}

func TestSendClientError(t *testing.T) {
	r := runSend(t, sendCase{size: 100_000, params: proto.Params{Windowsize: 4, Tsize: -1}, clientFn: func(c *rrqClient) { c.errAfter = 10 }})
	var ce *tftp.Error
	if !errors.As(r.err, &ce) || !ce.Remote || ce.Code != 0 || r.st.Outcome != stats.OutcomeClientError || r.st.ErrorMessage != "disk on fire" {
		t.Fatalf("err %v outcome %q stats %+v", r.err, r.st.Outcome, r.st)
	}
	if r.n.sent[proto.OpERROR] != 0 {
		t.Error("server answered a client ERROR")
	}
	if r.n.sent[proto.OpDATA] > 14 {
		t.Errorf("server kept sending: %d DATA", r.n.sent[proto.OpDATA])
	}
}

func TestSendStranger(t *testing.T) {
	// A stranger that looks like a confused client (an ACK to our port)
	// gets ERROR 5, three times at most in a burst (RFC 1350 §4 asks for
	// an answer; a reflector is not wanted); junk (a 1-byte datagram, an
	// ERROR, an RRQ) gets nothing. None of it disturbs the transfer.
	r := runSend(t, sendCase{size: 20_000, params: proto.Params{Tsize: -1}, setup: func(n *simNet, c *rrqClient) {
		for i := range 5 {
			n.after(time.Duration(i)*300*time.Microsecond, func() {
				n.sendFrom(strangerAddr, proto.AppendAck(nil, 3))
				other := netip.AddrPortFrom(clientAddr.Addr(), 50002) // same host, other port
				n.sendFrom(other, []byte{9})
				n.sendFrom(other, proto.AppendError(nil, proto.ErrUnknownTID, "x"))
				n.sendFrom(other, proto.AppendRequest(nil, proto.OpRRQ, "f", "octet", nil))
				n.sendFrom(other, append(proto.AppendAck(nil, 3), 0)) // an ACK one byte too long
			})
		}
	}})
	if r.err != nil || r.st.Outcome != stats.OutcomeSuccess || !bytes.Equal(r.c.got.Bytes(), r.src) {
		t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
	}
	if len(r.n.stranger) != strangerBurst {
		t.Fatalf("strangers answered %d times, want %d", len(r.n.stranger), strangerBurst)
	}
	for _, p := range r.n.stranger {
		e, err := proto.ParseError(p)
		if err != nil || e.Code != proto.ErrUnknownTID {
			t.Errorf("stranger got %v %v", e, err)
		}
	}
	if r.st.Retransmits != 0 {
		t.Errorf("strangers disturbed the transfer: %d retransmits", r.st.Retransmits)
	}
}

func TestStrangerFloodIsNotReflected(t *testing.T) {
	// 10,000 spoofed ACKs and DATA packets, from 5,000 addresses, during a
	// transfer: three answers go out, whoever the strangers claim to be.
	r := runSend(t, sendCase{size: 200 * 512, params: proto.Params{Tsize: -1}, setup: func(n *simNet, c *rrqClient) {
		for i := range 5000 {
			n.after(time.Duration(i)*4*time.Microsecond, func() {
				from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1024+i))
				n.sendFrom(from, proto.AppendAck(nil, uint16(i)))
				n.sendFrom(from, proto.AppendData(nil, uint16(i), make([]byte, 512)))
			})
		}
	}})
	if r.err != nil || r.st.Outcome != stats.OutcomeSuccess || !bytes.Equal(r.c.got.Bytes(), r.src) {
		t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
	}
	if r.st.Duration > time.Second || len(r.n.stranger) != strangerBurst {
		t.Errorf("%d ERROR 5 for 10000 stranger packets over %v, want %d", len(r.n.stranger), r.st.Duration, strangerBurst)
	}
}

func TestStrangerBudgetRefills(t *testing.T) {
	n := newSimNet()
	tr := &Transfer{Conn: n.conn(), Peer: clientAddr, Config: Config{Clock: n}, Stats: &stats.SessionStats{}}
	tr.init(600)
	ack := proto.AppendAck(nil, 1)
	answered := func(at time.Duration, count int) int {
		n.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(at)
		before := len(n.stranger)
		for range count {
			tr.stranger(strangerAddr, ack)
		}
		return len(n.stranger) - before
	}
	for _, step := range []struct {
		at          time.Duration
		sent, wants int
	}{
		{0, 10, 3},                       // the burst
		{500 * time.Millisecond, 10, 0},  // nothing left
		{time.Second, 10, 1},             // one per second
		{1500 * time.Millisecond, 10, 0}, //
		{10 * time.Second, 10, 3},        // a full bucket again, not more
		{10*time.Second + time.Second, 1, 1},
	} {
		if got := answered(step.at, step.sent); got != step.wants {
			t.Errorf("at %v: %d answers to %d packets, want %d", step.at, got, step.sent, step.wants)
		}
	}
}

type failingReader struct{ after int }

func (f *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(f.after) {
		return 0, errors.New("EIO")
	}
	return len(p), nil
}
func (f *failingReader) Read(p []byte) (int, error) { return 0, errors.New("unused") }

func TestSendSourceError(t *testing.T) {
	n := newSimNet()
	c := newRRQClient(n, proto.DefaultParams())
	var st stats.SessionStats
	tr := &Transfer{Conn: n.conn(), Peer: clientAddr, Params: proto.DefaultParams(), Config: Config{Clock: n}, Stats: &st}
	err := tr.Send(context.Background(), &failingReader{after: 2048})
	n.drain()
	if err == nil || st.Outcome != stats.OutcomeServerError || st.ErrorCode != proto.ErrUndefined {
		t.Fatalf("err %v stats %+v", err, st)
	}
	if len(c.errs) != 1 || c.errs[0].Message != "server error" {
		t.Fatalf("client errors %v (internal text must not leak)", c.errs)
	}
}

func TestSendShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := runSend(t, sendCase{size: 100_000, params: proto.Params{Tsize: -1}, ctx: ctx, setup: func(n *simNet, c *rrqClient) {
		n.after(2*time.Millisecond, cancel)
	}})
	if !errors.Is(r.err, ErrShutdown) || r.st.Outcome != stats.OutcomeShutdown {
		t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
	}
	if len(r.c.errs) != 1 || r.c.errs[0].Code != proto.ErrUndefined {
		t.Fatalf("client was not told: %v", r.c.errs)
	}
}

func TestSeq(t *testing.T) {
	cases := []struct {
		rollover int
		k        uint64
		wire     uint16
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 65535, 65535}, {0, 65536, 0}, {0, 65537, 1}, {0, 131072, 0},
		{1, 0, 0}, {1, 1, 1}, {1, 65535, 65535}, {1, 65536, 1}, {1, 65537, 2}, {1, 131070, 65535}, {1, 131071, 1},
	}
	for _, c := range cases {
		s := seq{c.rollover}
		if got := s.wire(c.k); got != c.wire {
			t.Errorf("rollover %d wire(%d) = %d, want %d", c.rollover, c.k, got, c.wire)
		}
		lo := c.k - min(c.k, 10)
		if k, ok := s.abs(c.wire, lo, c.k+10); !ok || k != c.k {
			t.Errorf("rollover %d abs(%d, %d..) = %d %v, want %d", c.rollover, c.wire, lo, k, ok, c.k)
		}
	}
	if _, ok := (seq{1}).abs(0, 5, 70000); ok {
		t.Error("rollover 1 must never map wire 0 after block 0")
	}
	if _, ok := (seq{0}).abs(3, 10, 20); ok {
		t.Error("abs out of range")
	}
	if _, ok := (seq{0}).abs(3, 20, 10); ok {
		t.Error("empty range")
	}
}
