package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGetReference(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		opts  Options
		cfg   senderCfg
		check func(t *testing.T, r getResult, acks []uint16)
	}{
		{name: "empty", size: 0},
		{name: "one", size: 1},
		{name: "block", size: 512},
		{name: "block+1", size: 513},
		{name: "lockstep-100k", size: 100_000},
		{name: "blksize-1468-tsize", size: 100_000, opts: Options{Blksize: 1468, Tsize: true},
			check: func(t *testing.T, r getResult, _ []uint16) {
				if !r.res.OACK || r.res.Blksize != 1468 || r.res.Tsize != 100_000 {
					t.Errorf("result %+v", r.res)
				}
			}},
		{name: "ignored-options", size: 1000, opts: Options{Blksize: 1468, Windowsize: 8}, cfg: senderCfg{noOptions: true},
			check: func(t *testing.T, r getResult, _ []uint16) {
				if r.res.OACK || r.res.Blksize != 512 || r.res.Windowsize != 1 || r.res.Blocks != 2 {
					t.Errorf("result %+v", r.res)
				}
			}},
		{name: "window-4-exact-multiple", size: 8 * 512, opts: Options{Windowsize: 4},
			check: func(t *testing.T, r getResult, acks []uint16) {
				// ACK 0 (OACK), 4, 8 (full windows), 9 (final empty block).
				if want := []uint16{0, 4, 8, 9}; !equalAcks(acks, want) {
					t.Errorf("acks %v, want %v", acks, want)
				}
			}},
		{name: "window-4-short", size: 6*512 + 3, opts: Options{Windowsize: 4},
			check: func(t *testing.T, r getResult, acks []uint16) {
				if want := []uint16{0, 4, 7}; !equalAcks(acks, want) {
					t.Errorf("acks %v, want %v", acks, want)
				}
			}},
		{name: "window-16-loss", size: 200 * 512, opts: Options{Windowsize: 16, Timeout: 300 * time.Millisecond},
			cfg: senderCfg{drop: func(i uint64, a int) bool { return a == 1 && i%37 == 5 }}},
		{name: "lockstep-loss", size: 20 * 512, opts: Options{Timeout: 300 * time.Millisecond},
			cfg: senderCfg{drop: func(i uint64, a int) bool { return a == 1 && i%3 == 0 }}},
		{name: "window-dupes", size: 50 * 512, opts: Options{Windowsize: 8},
			cfg: senderCfg{dupe: func(i uint64) bool { return i%5 == 0 }},
			check: func(t *testing.T, r getResult, _ []uint16) {
				if r.res.Duplicates != 10 {
					t.Errorf("duplicates %d, want 10", r.res.Duplicates)
				}
			}},
		{name: "netascii", size: 3000, opts: Options{Mode: proto.ModeNetascii}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			content := pattern(tc.size)
			want := content
			if tc.opts.Mode == proto.ModeNetascii {
				want = []byte("line one\nline two\r\n\rend\r")
				var enc bytes.Buffer
				io.Copy(&enc, proto.NewNetasciiEncoder(bytes.NewReader(want)))
				content = enc.Bytes()
			}
			tc.cfg.content = content
			wait := startGet(t, testCtx(t), f.addr, "f", tc.opts)
			acks := refSend(t, f, tc.cfg)
			r := wait()
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !bytes.Equal(r.out, want) {
				t.Fatalf("got %d bytes, want %d", len(r.out), len(want))
			}
			if r.res.Bytes != int64(len(content)) || r.res.Peer.Addr() != f.addr.Addr() || r.res.Peer == f.addr {
				t.Errorf("result %+v", r.res)
			}
			if tc.check != nil {
				tc.check(t, r, acks)
			}
		})
	}
}

func equalAcks(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGetRollover(t *testing.T) {
	const blocks = 70_000
	content := pattern(blocks * 8)
	for _, tc := range []struct {
		name string
		opts Options
		want int
	}{
		{"default-window", Options{Blksize: 8, Windowsize: 16}, 0},
		{"zero-window", Options{Blksize: 8, Windowsize: 32, Rollover: RolloverZero}, 0},
		{"one-window", Options{Blksize: 8, Windowsize: 32, Rollover: RolloverOne}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			tc.opts.Timeout = 2 * time.Second
			wait := startGet(t, testCtx(t), f.addr, "big", tc.opts)
			refSend(t, f, senderCfg{content: content, timeout: 2 * time.Second})
			r := wait()
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !bytes.Equal(r.out, content) || r.res.Blocks != blocks+1 || r.res.Rollover != tc.want {
				t.Fatalf("got %d bytes, %d blocks, rollover %d", len(r.out), r.res.Blocks, r.res.Rollover)
			}
		})
	}
}

// TestGetWindowScript drives exact packet sequences against Get.
func TestGetWindowScript(t *testing.T) {
	f := newFakeServer(t)
	wait := startGet(t, testCtx(t), f.addr, "w", Options{Windowsize: 4, Blksize: 8, Timeout: 10 * time.Second})
	req, tid := f.accept(t)
	if v, _ := req.Option("windowsize"); v != "4" {
		t.Fatalf("request options %v", req.Options)
	}
	block := func(n uint16) []byte { return []byte("abcdefgh") }
	oack := proto.AppendOACK(nil, []proto.Option{opt("windowsize", 4), opt("blksize", 8)})
	tid.Send(oack)
	expect(t, tid, proto.OpACK, 0)
	tid.Send(oack) // our ACK 0 "was lost": the OACK again is ACKed again
	expect(t, tid, proto.OpACK, 0)
	for n := uint16(1); n <= 4; n++ {
		tid.SendData(tid.Server(), n, block(n))
	}
	expect(t, tid, proto.OpACK, 4)
	// Gap: 6 is lost. One ACK 5 for the gap, nothing for 8.
	tid.SendData(tid.Server(), 5, block(5))
	tid.SendData(tid.Server(), 7, block(7))
	expect(t, tid, proto.OpACK, 5)
	tid.SendData(tid.Server(), 8, block(8))
	expectNothing(t, tid)
	// The server restarts at 6. A stray duplicate of 2 is ignored.
	tid.SendData(tid.Server(), 2, block(2))
	for n := uint16(6); n <= 9; n++ {
		tid.SendData(tid.Server(), n, block(n))
	}
	expect(t, tid, proto.OpACK, 9)
	// The ACK 9 "was lost": the whole window again; only its last block is re-ACKed.
	for n := uint16(6); n <= 9; n++ {
		tid.SendData(tid.Server(), n, block(n))
	}
	expect(t, tid, proto.OpACK, 9)
	// A stranger's packet gets ERROR 5 and changes nothing.
	stranger, err := NewSession(tid.Server(), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	stranger.SendData(tid.Server(), 10, block(10))
	p, err := stranger.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpERROR || p.Error.Code != proto.ErrUnknownTID {
		t.Fatalf("stranger got %+v, %v", p, err)
	}
	// Out of order inside a window: 11 before 10 is a gap, then in order again.
	tid.SendData(tid.Server(), 11, block(11))
	expect(t, tid, proto.OpACK, 9)
	tid.SendData(tid.Server(), 10, block(10))
	tid.SendData(tid.Server(), 11, block(11))
	tid.SendData(tid.Server(), 12, []byte("xyz")) // final, short
	expect(t, tid, proto.OpACK, 12)
	r := wait()
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.out) != 11*8+3 || r.res.Strangers != 1 || r.res.Blocks != 12 || r.res.Retransmits != 0 {
		t.Fatalf("out %d bytes, result %+v", len(r.out), r.res)
	}
}

func TestGetLockstepScript(t *testing.T) {
	f := newFakeServer(t)
	wait := startGet(t, testCtx(t), f.addr, "l", Options{Timeout: 200 * time.Millisecond, Dally: 300 * time.Millisecond})
	_, tid := f.accept(t)
	// No answer to the RRQ: it is sent again to the listener.
	f.accept(t)
	full := bytes.Repeat([]byte("x"), 512)
	tid.SendData(tid.Server(), 1, full)
	expect(t, tid, proto.OpACK, 1)
	tid.SendData(tid.Server(), 1, full) // duplicate DATA is re-ACKed
	expect(t, tid, proto.OpACK, 1)
	// No DATA 2: after the timeout ACK 1 is sent again.
	expect(t, tid, proto.OpACK, 1)
	tid.SendData(tid.Server(), 2, []byte("end"))
	expect(t, tid, proto.OpACK, 2)
	// Our final ACK "was lost": dallying, the client ACKs again.
	tid.SendData(tid.Server(), 2, []byte("end"))
	expect(t, tid, proto.OpACK, 2)
	r := wait()
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Retransmits != 2 || r.res.Duplicates != 2 || string(r.out[512:]) != "end" {
		t.Fatalf("result %+v", r.res)
	}
}

func TestGetErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		script func(t *testing.T, tid *Session)
		check  func(t *testing.T, err error)
	}{
		{
			name: "server-error",
			script: func(t *testing.T, tid *Session) {
				tid.SendError(tid.Server(), proto.ErrNotFound, "File not found")
			},
			check: func(t *testing.T, err error) {
				var se *tftp.Error
				if !errors.As(err, &se) || !se.Remote || se.Code != proto.ErrNotFound || se.Message != "File not found" {
					t.Fatalf("err %v", err)
				}
				if !errors.Is(err, tftp.ErrNotFound) || errors.Is(err, tftp.ErrAccessViolation) || se.Error() == "" {
					t.Fatal("errors.Is by code")
				}
			},
		},
		{
			name: "oack-blksize-too-big",
			opts: Options{Blksize: 1024},
			script: func(t *testing.T, tid *Session) {
				tid.Send(proto.AppendOACK(nil, []proto.Option{opt("blksize", 2048)}))
				p := expect(t, tid, proto.OpERROR, 0)
				if p.Error.Code != proto.ErrOptionRefused {
					t.Errorf("code %d", p.Error.Code)
				}
			},
			check: wantProtocolError(proto.ErrOptionRefused),
		},
		{
			name: "oack-unrequested",
			script: func(t *testing.T, tid *Session) {
				tid.Send(proto.AppendOACK(nil, []proto.Option{opt("windowsize", 4)}))
				expect(t, tid, proto.OpERROR, 0)
			},
			check: wantProtocolError(proto.ErrOptionRefused),
		},
		{
			name: "oack-malformed",
			opts: Options{Tsize: true},
			script: func(t *testing.T, tid *Session) {
				tid.Send([]byte{0, 6, 't', 's', 'i', 'z', 'e', 0})
				expect(t, tid, proto.OpERROR, 0)
			},
			check: wantProtocolError(proto.ErrIllegalOp),
		},
		{
			name: "oversized-data",
			script: func(t *testing.T, tid *Session) {
				tid.SendData(tid.Server(), 1, make([]byte, 600))
				expect(t, tid, proto.OpERROR, 0)
			},
			check: wantProtocolError(proto.ErrIllegalOp),
		},
		{
			name: "unexpected-opcode",
			script: func(t *testing.T, tid *Session) {
				tid.SendAck(tid.Server(), 1)
				expect(t, tid, proto.OpERROR, 0)
			},
			check: wantProtocolError(proto.ErrIllegalOp),
		},
		{
			name: "malformed-data",
			script: func(t *testing.T, tid *Session) {
				tid.Send([]byte{0, 3, 0})
				expect(t, tid, proto.OpERROR, 0)
			},
			check: wantProtocolError(proto.ErrIllegalOp),
		},
		{
			name: "timeout",
			opts: Options{Timeout: 30 * time.Millisecond, Retries: 2},
			script: func(t *testing.T, tid *Session) {
				tid.SendData(tid.Server(), 1, make([]byte, 512))
				expect(t, tid, proto.OpACK, 1)
				expect(t, tid, proto.OpACK, 1)
				expect(t, tid, proto.OpACK, 1)
				p := expect(t, tid, proto.OpERROR, 0)
				if p.Error.Code != proto.ErrUndefined {
					t.Errorf("code %d", p.Error.Code)
				}
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("err %v", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			if tc.opts.Timeout == 0 {
				tc.opts.Timeout = 5 * time.Second
			}
			wait := startGet(t, testCtx(t), f.addr, "e", tc.opts)
			_, tid := f.accept(t)
			tc.script(t, tid)
			tc.check(t, wait().err)
		})
	}
}

func wantProtocolError(code proto.ErrorCode) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != code || pe.Error() == "" {
			t.Fatalf("err %v, want protocol error %d", err, code)
		}
	}
}

func TestGetCancel(t *testing.T) {
	f := newFakeServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := startGet(t, ctx, f.addr, "c", Options{Timeout: 10 * time.Second})
	_, tid := f.accept(t)
	tid.SendData(tid.Server(), 1, make([]byte, 512))
	expect(t, tid, proto.OpACK, 1)
	cancel()
	p := expect(t, tid, proto.OpERROR, 0)
	if p.Error.Code != proto.ErrUndefined {
		t.Errorf("code %d", p.Error.Code)
	}
	if r := wait(); !errors.Is(r.err, context.Canceled) || r.res.Blocks != 1 {
		t.Fatalf("err %v, result %+v", r.err, r.res)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestGetWriteError(t *testing.T) {
	f := newFakeServer(t)
	ch := make(chan error, 1)
	go func() {
		_, err := Get(testCtx(t), f.addr, "w", Options{}, failWriter{})
		ch <- err
	}()
	_, tid := f.accept(t)
	tid.SendData(tid.Server(), 1, []byte("x"))
	p := expect(t, tid, proto.OpERROR, 0)
	if p.Error.Code != proto.ErrDiskFull {
		t.Errorf("code %d", p.Error.Code)
	}
	if err := <-ch; err == nil {
		t.Fatal("no error")
	}
}

func TestGetNetasciiBoundary(t *testing.T) {
	// A CR at the end of a block followed by LF (and NUL) in the next.
	f := newFakeServer(t)
	wait := startGet(t, testCtx(t), f.addr, "n", Options{Mode: proto.ModeNetascii, Blksize: 8})
	req, tid := f.accept(t)
	if req.Mode != proto.ModeNetascii {
		t.Fatalf("mode %v", req.RawMode)
	}
	tid.Send(proto.AppendOACK(nil, []proto.Option{opt("blksize", 8)}))
	expect(t, tid, proto.OpACK, 0)
	tid.SendData(tid.Server(), 1, []byte("abcdefg\r"))
	expect(t, tid, proto.OpACK, 1)
	tid.SendData(tid.Server(), 2, []byte("\nxyzzyq\r"))
	expect(t, tid, proto.OpACK, 2)
	tid.SendData(tid.Server(), 3, []byte("\x00z\r"))
	expect(t, tid, proto.OpACK, 3)
	r := wait()
	if r.err != nil || string(r.out) != "abcdefg\nxyzzyq\rz\r" {
		t.Fatalf("got %q, %v", r.out, r.err)
	}
}

func TestGetBadAddress(t *testing.T) {
	if _, err := Get(t.Context(), netip.AddrPort{}, "x", Options{}, io.Discard); err == nil {
		t.Fatal("no error for an invalid server address")
	}
	_, err := Get(t.Context(), netip.MustParseAddrPort("127.0.0.1:69"), "x",
		Options{LocalAddr: netip.MustParseAddrPort("[::1]:0")}, io.Discard)
	if err == nil {
		t.Fatal("no error for a family mismatch")
	}
}
