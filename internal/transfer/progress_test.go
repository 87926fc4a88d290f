package transfer

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// stepClock advances by step at every reading: time moves with the
// engine's work, deterministically.
type stepClock struct {
	now   time.Time
	step  time.Duration
	reads int
}

func (c *stepClock) Now() time.Time {
	c.reads++
	c.now = c.now.Add(c.step)
	return c.now
}

// progressLog records Config.Progress calls.
type progressLog struct {
	bytes []uint64
}

func (p *progressLog) report(st *stats.SessionStats) { p.bytes = append(p.bytes, st.Bytes) }

func (p *progressLog) check(t *testing.T, final uint64, maxCalls int) {
	t.Helper()
	if len(p.bytes) == 0 || len(p.bytes) > maxCalls {
		t.Fatalf("%d progress reports, want 1 to %d", len(p.bytes), maxCalls)
	}
	for i, b := range p.bytes {
		if b > final || (i > 0 && b < p.bytes[i-1]) {
			t.Fatalf("reports %v: not growing towards %d", p.bytes, final)
		}
	}
}

// TestSendProgress: with a clock that moves 1 ms per window, a 10 ms
// interval gives a report every 10 windows, with growing byte counts, and
// none when Progress is nil.
func TestSendProgress(t *testing.T) {
	const size = 1 << 20
	conn := &ackConn{window: 16, blksize: 512}
	var st stats.SessionStats
	var log progressLog
	tr := &Transfer{Conn: conn, Peer: clientAddr, Params: proto.Params{Blksize: 512, Windowsize: 16, Tsize: -1}, Stats: &st,
		Config: Config{Clock: &stepClock{step: time.Millisecond}, Progress: log.report, ProgressInterval: 10 * time.Millisecond}}
	if err := tr.Send(context.Background(), zeroFile{size}); err != nil {
		t.Fatal(err)
	}
	windows := size/512/16 + 1
	log.check(t, size, windows/10+1)
	if len(log.bytes) < windows/10-2 {
		t.Errorf("%d reports for %d windows at one per 10", len(log.bytes), windows)
	}
}

// dataConn feeds n full DATA blocks of blksize and a final empty one, one
// per read, as a client uploading.
type dataConn struct {
	blksize int
	n, next int
	pkt     []byte
}

func (c *dataConn) WritePacket([]byte, netip.AddrPort) error { return nil }

func (c *dataConn) ReadPacket(b []byte, _ time.Time) (int, netip.AddrPort, error) {
	if c.next > c.n {
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	}
	c.next++
	size := c.blksize
	if c.next == c.n+1 {
		size = 0
	}
	if cap(c.pkt) < 4+c.blksize {
		c.pkt = make([]byte, 4+c.blksize)
	}
	pkt := c.pkt[:4+size]
	binary.BigEndian.PutUint16(pkt, uint16(proto.OpDATA))
	binary.BigEndian.PutUint16(pkt[2:], uint16(c.next))
	return copy(b, pkt), clientAddr, nil
}

func TestReceiveProgress(t *testing.T) {
	const blocks = 1000
	var st stats.SessionStats
	var log progressLog
	clk := &stepClock{step: time.Millisecond}
	tr := &Transfer{Conn: &dataConn{blksize: 512, n: blocks}, Peer: clientAddr, Params: proto.Params{Blksize: 512, Tsize: -1}, Stats: &st,
		Config: Config{Clock: clk, Progress: log.report, ProgressInterval: 10 * time.Millisecond, Dally: time.Nanosecond}}
	if err := tr.Receive(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	// At most one report per 10 ms of the clock (which the engine reads
	// once or twice per block).
	log.check(t, blocks*512, clk.reads/10+1)
	if clk.reads > 3*blocks {
		t.Errorf("%d clock readings for %d blocks", clk.reads, blocks)
	}
}

// TestSendProgressNoAllocs: a due report costs the engine no allocation
// (the callback's own cost is the worker's).
func TestSendProgressNoAllocs(t *testing.T) {
	conn := &ackConn{window: 16, blksize: 512}
	var st stats.SessionStats
	calls := 0
	tr := &Transfer{Conn: conn, Peer: clientAddr, Params: proto.Params{Blksize: 512, Windowsize: 16, Tsize: -1}, Stats: &st,
		Config: Config{Clock: &stepClock{step: time.Millisecond}, Progress: func(*stats.SessionStats) { calls++ }, ProgressInterval: 5 * time.Millisecond}}
	run := func() {
		st = stats.SessionStats{}
		if err := tr.Send(context.Background(), zeroFile{1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(5, run); n > 0 {
		t.Errorf("%v allocs per 1 MiB send with progress reports, want 0", n)
	}
	if calls == 0 {
		t.Error("no progress report")
	}
}
