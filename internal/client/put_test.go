package client

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

type putResult struct {
	res Result
	err error
}

func startPut(t *testing.T, f *fakeServer, opts Options, content []byte, size int64) func() putResult {
	t.Helper()
	ch := make(chan putResult, 1)
	go func() {
		res, err := Put(testCtx(t), f.addr, "up", opts, bytes.NewReader(content), size)
		ch <- putResult{res, err}
	}()
	return func() putResult {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("Put did not return")
			return putResult{}
		}
	}
}

// refReceive is a reference WRQ receiver: it ACKs full windows and the
// final block, and the last in-order block on a gap.
func refReceive(t *testing.T, f *fakeServer, dropAck func(n uint16) bool) ([]byte, *proto.Request) {
	t.Helper()
	req, tid := f.accept(t)
	p := proto.Negotiate(proto.OpWRQ, req.Options, proto.Limits{MaxWindowsize: 65535}, -1)
	roll := uint16(p.Rollover)
	if len(p.Acked) > 0 {
		tid.Send(proto.AppendOACK(nil, p.Acked))
	} else {
		tid.SendAck(tid.Server(), 0)
	}
	var out []byte
	var got uint64
	since := 0
	ack := func(n uint16) {
		since = 0
		if dropAck != nil && dropAck(n) {
			return
		}
		tid.SendAck(tid.Server(), n)
	}
	for i := 0; i < 1_000_000; i++ {
		pk, err := tid.RecvPacket(5 * time.Second)
		if err != nil {
			t.Fatalf("receiver: %v", err)
		}
		if pk.Op != proto.OpDATA {
			t.Fatalf("receiver got %v", pk.Op)
		}
		if pk.Block != wire(got+1, roll) {
			ack(wire(got, roll))
			continue
		}
		got++
		since++
		out = append(out, pk.Payload...)
		if len(pk.Payload) < p.Blksize {
			ack(pk.Block)
			return out, req
		}
		if since >= p.Windowsize {
			ack(pk.Block)
		}
	}
	t.Fatal("receiver: too many packets")
	return nil, nil
}

func TestPutReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		size    int
		opts    Options
		dropAck func(uint16) bool
	}{
		{name: "empty", size: 0},
		{name: "lockstep", size: 5000},
		{name: "exact-blocks", size: 4 * 512, opts: Options{Windowsize: 2}},
		{name: "blksize-window-tsize", size: 100_000, opts: Options{Blksize: 1400, Windowsize: 8, Tsize: true}},
		{name: "lost-acks", size: 40 * 512, opts: Options{Windowsize: 4, Timeout: 100 * time.Millisecond},
			dropAck: func() func(uint16) bool {
				seen := map[uint16]bool{}
				return func(n uint16) bool { d := n%3 == 0 && !seen[n]; seen[n] = true; return d }
			}()},
		{name: "rollover-one", size: 70_000 * 8, opts: Options{Blksize: 8, Windowsize: 64, Rollover: RolloverOne}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			content := pattern(tc.size)
			wait := startPut(t, f, tc.opts, content, int64(len(content)))
			got, req := refReceive(t, f, tc.dropAck)
			r := wait()
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("server got %d bytes, want %d", len(got), len(content))
			}
			if v, ok := req.Option("tsize"); tc.opts.Tsize && (!ok || v != itoa(tc.size)) {
				t.Errorf("tsize %q", v)
			}
			if r.res.Bytes != int64(tc.size) || r.res.Blocks != uint64(tc.size/r.res.Blksize+1) {
				t.Errorf("result %+v", r.res)
			}
		})
	}
}

func itoa(n int) string { return opt("", n).Value }

func TestPutWindowScript(t *testing.T) {
	f := newFakeServer(t)
	content := pattern(10*8 + 5) // blocks 1..11, 11 is short
	wait := startPut(t, f, Options{Blksize: 8, Windowsize: 4, Timeout: 300 * time.Millisecond}, content, -1)
	req, tid := f.accept(t)
	if req.Op != proto.OpWRQ {
		t.Fatalf("op %v", req.Op)
	}
	// No answer: the WRQ is sent again.
	f.accept(t)
	tid.Send(proto.AppendOACK(nil, []proto.Option{opt("blksize", 8), opt("windowsize", 4)}))
	for n := uint16(1); n <= 4; n++ {
		expect(t, tid, proto.OpDATA, n)
	}
	tid.SendAck(tid.Server(), 2) // a gap ACK: restart after 2
	for n := uint16(3); n <= 6; n++ {
		expect(t, tid, proto.OpDATA, n)
	}
	tid.SendAck(tid.Server(), 2) // duplicate ACK: ignored, no retransmission
	tid.SendAck(tid.Server(), 1) // stale ACK: ignored
	expectNothing(t, tid)
	// Timeout (300 ms): the window 3..6 again.
	for n := uint16(3); n <= 6; n++ {
		expect(t, tid, proto.OpDATA, n)
	}
	tid.SendAck(tid.Server(), 6)
	for n := uint16(7); n <= 10; n++ {
		expect(t, tid, proto.OpDATA, n)
	}
	tid.SendAck(tid.Server(), 10)
	p := expect(t, tid, proto.OpDATA, 11)
	if !bytes.Equal(p.Payload, content[80:]) {
		t.Fatalf("last block %q", p.Payload)
	}
	tid.Send(proto.AppendOACK(nil, nil)) // a late OACK copy is ignored
	tid.SendAck(tid.Server(), 11)
	r := wait()
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Retransmits != 2 || r.res.Blocks != 11 || r.res.Duplicates != 3 {
		t.Fatalf("result %+v", r.res)
	}
}

func TestPutErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(t *testing.T, tid *Session)
		check  func(t *testing.T, err error)
	}{
		{"server-error", func(t *testing.T, tid *Session) {
			tid.SendError(tid.Server(), proto.ErrFileExists, "File exists")
		}, func(t *testing.T, err error) {
			if !errors.Is(err, &tftp.Error{Code: proto.ErrFileExists}) {
				t.Fatalf("err %v", err)
			}
		}},
		{"ack-1-first", func(t *testing.T, tid *Session) {
			tid.SendAck(tid.Server(), 1)
			expect(t, tid, proto.OpERROR, 0)
		}, wantProtocolError(proto.ErrIllegalOp)},
		{"data-instead", func(t *testing.T, tid *Session) {
			tid.SendData(tid.Server(), 1, nil)
			expect(t, tid, proto.OpERROR, 0)
		}, wantProtocolError(proto.ErrIllegalOp)},
		{"malformed-ack", func(t *testing.T, tid *Session) {
			tid.Send([]byte{0, 4, 0})
			expect(t, tid, proto.OpERROR, 0)
		}, wantProtocolError(proto.ErrIllegalOp)},
		{"bad-oack", func(t *testing.T, tid *Session) {
			tid.Send(proto.AppendOACK(nil, []proto.Option{opt("blksize", 100)}))
			expect(t, tid, proto.OpERROR, 0)
		}, wantProtocolError(proto.ErrOptionRefused)},
		{"error-mid-transfer", func(t *testing.T, tid *Session) {
			tid.SendAck(tid.Server(), 0)
			expect(t, tid, proto.OpDATA, 1)
			tid.SendError(tid.Server(), proto.ErrDiskFull, "")
		}, func(t *testing.T, err error) {
			if !errors.Is(err, &tftp.Error{Code: proto.ErrDiskFull}) {
				t.Fatalf("err %v", err)
			}
		}},
		{"timeout", func(t *testing.T, tid *Session) {
			tid.SendAck(tid.Server(), 0)
			for range 3 {
				expect(t, tid, proto.OpDATA, 1)
			}
			expect(t, tid, proto.OpERROR, 0)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			wait := startPut(t, f, Options{Timeout: 50 * time.Millisecond, Retries: 2}, pattern(2000), 2000)
			_, tid := f.accept(t)
			tc.script(t, tid)
			tc.check(t, wait().err)
		})
	}
}

func TestPutReadError(t *testing.T) {
	f := newFakeServer(t)
	ch := make(chan error, 1)
	go func() {
		_, err := Put(testCtx(t), f.addr, "r", Options{}, iotest.ErrReader(errors.New("bad disk")), -1)
		ch <- err
	}()
	_, tid := f.accept(t)
	tid.SendAck(tid.Server(), 0)
	expect(t, tid, proto.OpERROR, 0)
	if err := <-ch; err == nil {
		t.Fatal("no error")
	}
}

func TestPutNetascii(t *testing.T) {
	f := newFakeServer(t)
	text := []byte("a\nb\rc\r\n")
	wait := startPut(t, f, Options{Mode: proto.ModeNetascii}, text, -1)
	got, req := refReceive(t, f, nil)
	if r := wait(); r.err != nil {
		t.Fatal(r.err)
	}
	if req.Mode != proto.ModeNetascii || string(got) != "a\r\nb\r\x00c\r\x00\r\n" {
		t.Fatalf("server got %q", got)
	}
	var dec bytes.Buffer
	d := proto.NewNetasciiDecoder(&dec)
	io.Copy(d, bytes.NewReader(got))
	d.Flush()
	if !bytes.Equal(dec.Bytes(), text) {
		t.Fatalf("round trip %q", dec.Bytes())
	}
}
