package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/tftp"
)

type recvCase struct {
	size     int
	params   proto.Params
	fault    fault
	sink     func(*bytes.Buffer) interface{ Write([]byte) (int, error) }
	clientFn func(c *wrqClient)
	setup    func(n *simNet)
	ctx      context.Context
	config   Config // Clock is set by runRecv
}

type recvResult struct {
	n   *simNet
	c   *wrqClient
	st  stats.SessionStats
	err error
	src []byte
	got *bytes.Buffer
}

func runRecv(t *testing.T, tc recvCase) recvResult {
	t.Helper()
	p := tc.params
	if p.Blksize == 0 {
		p.Blksize = 512
	}
	if p.Windowsize == 0 {
		p.Windowsize = 1
	}
	n := newSimNet()
	n.fault = tc.fault
	data := payload(tc.size)
	c := newWRQClient(n, p, data)
	if tc.clientFn != nil {
		tc.clientFn(c)
	}
	if tc.setup != nil {
		tc.setup(n)
	}
	got := &bytes.Buffer{}
	var sink interface{ Write([]byte) (int, error) } = got
	if tc.sink != nil {
		sink = tc.sink(got)
	}
	var st stats.SessionStats
	cfg := tc.config
	cfg.Clock = n
	tr := &Transfer{Conn: n.conn(), Peer: clientAddr, Params: p, Config: cfg, Stats: &st}
	ctx := tc.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	err := tr.Receive(ctx, sink)
	n.drain()
	return recvResult{n: n, c: c, st: st, err: err, src: data, got: got}
}

func TestReceiveExact(t *testing.T) {
	for _, size := range []int{0, 1, 512, 513, 5120, 100_003} {
		for _, w := range []int{1, 4, 16, 64} {
			for _, blk := range []int{512, 1468} {
				t.Run(fmt.Sprintf("size%d/win%d/blk%d", size, w, blk), func(t *testing.T) {
					r := runRecv(t, recvCase{size: size, params: proto.Params{Blksize: blk, Windowsize: w}})
					if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
						t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
					}
					if !bytes.Equal(r.got.Bytes(), r.src) || !r.c.done {
						t.Fatalf("got %d bytes want %d, client done %v", r.got.Len(), size, r.c.done)
					}
					blocks := blocksFor(size, blk)
					wantAcks := 1 + blocks/w + 1 // ACK 0, one per full window, the final one
					if blocks%w == 0 {
						wantAcks--
					}
					if got := r.n.sent[proto.OpACK]; got != wantAcks {
						t.Errorf("ACKs sent %d, want %d", got, wantAcks)
					}
					if r.st.Bytes != uint64(size) || r.st.Retransmits != 0 {
						t.Errorf("stats %+v", r.st)
					}
				})
			}
		}
	}
}

func TestReceiveFaults(t *testing.T) {
	const size = 512*30 + 7
	cases := []struct {
		name   string
		window int
		fault  fault
	}{
		{"drop DATA 4", 1, nthFault(toServer, proto.OpDATA, drop, 0, 4)},
		{"drop ACK 3 (duplicate DATA re-ACKed)", 1, nthFault(toClient, proto.OpACK, drop, 0, 3)},
		{"drop final ACK (dally)", 1, nthFault(toClient, proto.OpACK, drop, 0, 32)},
		{"drop ACK 0", 1, nthFault(toClient, proto.OpACK, drop, 0, 1)},
		{"duplicate all DATA", 1, nthFault(toServer, proto.OpDATA, duplicate, 0, -1)},
		{"window 8: drop DATA 5 (gap)", 8, nthFault(toServer, proto.OpDATA, drop, 0, 5)},
		{"window 8: drop window ACK", 8, nthFault(toClient, proto.OpACK, drop, 0, 2)},
		{"window 8: reorder", 8, nthFault(toServer, proto.OpDATA, delay, 300*time.Microsecond, 3, 9, 20)},
		{"window 8: drop final ACK", 8, nthFault(toClient, proto.OpACK, drop, 0, 5)},
		{"window 16: lossy", 16, lossy(3, 0.05)},
		{"lockstep: lossy", 1, lossy(4, 0.05)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runRecv(t, recvCase{size: size, params: proto.Params{Windowsize: tc.window}, fault: tc.fault})
			if r.err != nil || r.st.Outcome != stats.OutcomeSuccess {
				t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
			}
			if !bytes.Equal(r.got.Bytes(), r.src) {
				t.Fatalf("content differs: %d bytes", r.got.Len())
			}
			if !r.c.done {
				t.Errorf("client never saw the final ACK")
			}
		})
	}
}

func TestReceiveOACKAndRollover(t *testing.T) {
	acked := []proto.Option{{Name: "blksize", Value: "8"}, {Name: "tsize", Value: "560003"}}
	for _, rollover := range []int{0, 1} {
		t.Run(fmt.Sprintf("rollover%d", rollover), func(t *testing.T) {
			p := proto.Params{Blksize: 8, Windowsize: 4, Rollover: rollover, Acked: acked}
			r := runRecv(t, recvCase{size: 70_000*8 + 3, params: p, fault: nthFault(toServer, proto.OpDATA, drop, 0, 65535, 65537)})
			if r.err != nil || r.st.Outcome != stats.OutcomeSuccess || !bytes.Equal(r.got.Bytes(), r.src) {
				t.Fatalf("err %v outcome %q bytes %d", r.err, r.st.Outcome, r.got.Len())
			}
			if len(r.c.oack) != 2 {
				t.Errorf("client saw OACK %v", r.c.oack)
			}
		})
	}
}

func TestReceiveClientVanishes(t *testing.T) {
	// Uploads keep in.tftpd's timer whatever the policy.
	for _, pc := range []struct {
		policy Retransmit
		sends  int
	}{{RetransmitFixed, 6}, {RetransmitAdaptive, 6}} {
		t.Run(pc.policy.String(), func(t *testing.T) {
			start := newSimNet().now
			r := runRecv(t, recvCase{size: 5000, config: Config{Retransmit: pc.policy}, clientFn: func(c *wrqClient) { c.mute = true }})
			if !errors.Is(r.err, ErrTimeout) || r.st.Outcome != stats.OutcomeTimeout {
				t.Fatalf("err %v outcome %q", r.err, r.st.Outcome)
			}
			if got := r.n.sent[proto.OpACK]; got != pc.sends {
				t.Errorf("ACK 0 sent %d times, want %d", got, pc.sends)
			}
			if got := r.n.now.Sub(start); got != 63*time.Second {
				t.Errorf("gave up after %v", got)
			}
		})
	}
}

type errWriter struct {
	err   error
	after int
	n     int
}

func (w *errWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > w.after {
		return 0, w.err
	}
	return len(p), nil
}

type committer struct {
	buf       *bytes.Buffer
	err       error
	committed bool
}

func (c *committer) Write(p []byte) (int, error) { return c.buf.Write(p) }
func (c *committer) Commit() error {
	c.committed = true
	return c.err
}

func TestReceiveSinkErrors(t *testing.T) {
	t.Run("disk full", func(t *testing.T) {
		r := runRecv(t, recvCase{size: 5000, sink: func(*bytes.Buffer) interface{ Write([]byte) (int, error) } {
			return &errWriter{err: fmt.Errorf("write: %w", syscall.ENOSPC), after: 2000}
		}})
		if r.err == nil || r.st.ErrorCode != proto.ErrDiskFull || r.st.Outcome != stats.OutcomeServerError {
			t.Fatalf("err %v stats %+v", r.err, r.st)
		}
		if len(r.c.errs) != 1 || r.c.errs[0].Code != proto.ErrDiskFull {
			t.Fatalf("client got %v", r.c.errs)
		}
	})
	t.Run("coded error", func(t *testing.T) {
		r := runRecv(t, recvCase{size: 5000, sink: func(*bytes.Buffer) interface{ Write([]byte) (int, error) } {
			return &errWriter{err: &tftp.Error{Code: tftp.CodeDiskFull, Message: "upload too large"}, after: 1000}
		}})
		if len(r.c.errs) != 1 || r.c.errs[0].Message != "upload too large" {
			t.Fatalf("client got %v", r.c.errs)
		}
	})
	t.Run("commit runs before the final ACK", func(t *testing.T) {
		var c *committer
		r := runRecv(t, recvCase{size: 5000, sink: func(b *bytes.Buffer) interface{ Write([]byte) (int, error) } {
			c = &committer{buf: b}
			return c
		}})
		if r.err != nil || !c.committed || !r.c.done {
			t.Fatalf("err %v committed %v", r.err, c.committed)
		}
	})
	t.Run("commit failure is sent instead of the final ACK", func(t *testing.T) {
		r := runRecv(t, recvCase{size: 5000, sink: func(b *bytes.Buffer) interface{ Write([]byte) (int, error) } {
			return &committer{buf: b, err: errors.New("rename: EXDEV")}
		}})
		if r.err == nil || len(r.c.errs) != 1 || r.c.errs[0].Code != proto.ErrUndefined || r.c.errs[0].Message != "server error" {
			t.Fatalf("err %v client %v", r.err, r.c.errs)
		}
	})
}

func TestReceiveClientErrorAndStranger(t *testing.T) {
	r := runRecv(t, recvCase{size: 20_000, setup: func(n *simNet) {
		n.after(time.Millisecond, func() { n.sendFrom(strangerAddr, proto.AppendData(nil, 2, []byte("evil"))) })
		n.after(3*time.Millisecond, func() { n.clientSend(proto.AppendError(nil, proto.ErrDiskFull, "client disk full")) })
	}})
	var ce *tftp.Error
	if !errors.As(r.err, &ce) || !ce.Remote || r.st.Outcome != stats.OutcomeClientError || r.st.ErrorCode != proto.ErrDiskFull {
		t.Fatalf("err %v stats %+v", r.err, r.st)
	}
	if len(r.n.stranger) != 1 || r.n.sent[proto.OpERROR] != 0 {
		t.Fatalf("stranger %d, errors to client %d", len(r.n.stranger), r.n.sent[proto.OpERROR])
	}
	if bytes.Contains(r.got.Bytes(), []byte("evil")) {
		t.Fatal("a stranger's DATA was written")
	}
}

func TestReceiveShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := runRecv(t, recvCase{size: 50_000, ctx: ctx, setup: func(n *simNet) { n.after(2*time.Millisecond, cancel) }})
	if !errors.Is(r.err, ErrShutdown) || r.st.Outcome != stats.OutcomeShutdown || len(r.c.errs) != 1 {
		t.Fatalf("err %v outcome %q client %v", r.err, r.st.Outcome, r.c.errs)
	}
}

func TestStoppedByDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var st stats.SessionStats
	var sent string
	err := Stopped(ctx, &st, func(_ proto.ErrorCode, msg string) { sent = msg })
	if !errors.Is(err, ErrTimeout) || st.Outcome != stats.OutcomeTimeout || sent != "session time limit exceeded" {
		t.Fatalf("%v %q %q", err, st.Outcome, sent)
	}
}
