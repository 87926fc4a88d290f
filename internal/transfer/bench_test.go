package transfer

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// ackConn is an in-memory peer that acknowledges every window at once: the
// engine's cost per packet with no network in the way.
type ackConn struct {
	window  int
	blksize int
	inWin   int
	pending bool
	ack     [4]byte
}

func (c *ackConn) WritePacket(b []byte, _ netip.AddrPort) error {
	if len(b) < 4 || binary.BigEndian.Uint16(b) != uint16(proto.OpDATA) {
		return nil
	}
	c.inWin++
	if c.inWin == c.window || len(b)-4 < c.blksize {
		c.inWin = 0
		c.pending = true
		binary.BigEndian.PutUint16(c.ack[:], uint16(proto.OpACK))
		copy(c.ack[2:], b[2:4])
	}
	return nil
}

func (c *ackConn) ReadPacket(b []byte, _ time.Time) (int, netip.AddrPort, error) {
	if !c.pending {
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	c.pending = false
	return copy(b, c.ack[:]), clientAddr, nil
}

// ackBatchConn is ackConn with WriteBatch.
type ackBatchConn struct{ ackConn }

func (c *ackBatchConn) WriteBatch(buf []byte, seg int, to netip.AddrPort) error {
	for len(buf) > 0 {
		k := min(seg, len(buf))
		c.WritePacket(buf[:k], to)
		buf = buf[k:]
	}
	return nil
}

// zeroFile is a ReaderAt of a given size that costs nothing to read.
type zeroFile struct{ size int64 }

func (z zeroFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.size-off))
	clear(p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (z zeroFile) Read([]byte) (int, error) { return 0, io.EOF }

// zeroStream is the same without ReaderAt (the ring buffer path).
type zeroStream struct{ left int64 }

func (z *zeroStream) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	return n, nil
}

// BenchmarkSend100MiB sends 100 MiB per op over an in-memory conn. The
// Transfer is reused, so allocs/op shows allocation in steady state: 0.
func BenchmarkSend100MiB(b *testing.B) {
	const size = 100 << 20
	for _, c := range []struct {
		blk, win    int
		ring, batch bool
	}{{1468, 1, false, false}, {1468, 16, false, false}, {1468, 16, false, true}, {65464, 1, false, false}, {1468, 16, true, false}} {
		b.Run(fmt.Sprintf("blk%d/win%d/ring%v/batch%v", c.blk, c.win, c.ring, c.batch), func(b *testing.B) {
			var conn PacketConn = &ackConn{window: c.win, blksize: c.blk}
			if c.batch {
				conn = &ackBatchConn{ackConn{window: c.win, blksize: c.blk}}
			}
			var st stats.SessionStats
			tr := &Transfer{Conn: conn, Peer: clientAddr, Params: proto.Params{Blksize: c.blk, Windowsize: c.win, Tsize: -1}, Stats: &st}
			var stream zeroStream
			// Warm up: the first run allocates the Transfer's buffers.
			var warm io.Reader = zeroFile{1 << 20}
			if c.ring {
				stream.left = 1 << 20
				warm = &stream
			}
			if err := tr.Send(context.Background(), warm); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				st = stats.SessionStats{}
				var src io.Reader = zeroFile{size}
				if c.ring {
					stream.left = size
					src = &stream
				}
				if err := tr.Send(context.Background(), src); err != nil || st.Bytes != size {
					b.Fatalf("err %v bytes %d", err, st.Bytes)
				}
			}
		})
	}
}

// TestSendNoAllocs proves the steady state allocates nothing, as a test
// (benchmarks are not run by make test).
func TestSendNoAllocs(t *testing.T) {
	for _, conn := range []PacketConn{&ackConn{window: 16, blksize: 512}, &ackBatchConn{ackConn{window: 16, blksize: 512}}} {
		sendNoAllocs(t, conn)
	}
}

func sendNoAllocs(t *testing.T, conn PacketConn) {
	var st stats.SessionStats
	tr := &Transfer{Conn: conn, Peer: clientAddr, Params: proto.Params{Blksize: 512, Windowsize: 16, Tsize: -1}, Stats: &st}
	var stream zeroStream
	run := func(src io.Reader) {
		st = stats.SessionStats{}
		if err := tr.Send(context.Background(), src); err != nil {
			t.Fatal(err)
		}
	}
	for _, ring := range []bool{false, true} {
		mk := func() io.Reader {
			if ring {
				stream.left = 1 << 20
				return &stream
			}
			return zeroFile{1 << 20}
		}
		run(mk()) // warm up buffers
		if n := testing.AllocsPerRun(5, func() { run(mk()) }); n > 0 {
			t.Errorf("ring %v: %v allocs per 1 MiB send, want 0", ring, n)
		}
	}
}
