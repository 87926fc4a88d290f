package client

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// blastServer serves every RRQ with nblocks of 512 bytes, lockstep, from
// the listener socket itself (a single TID), allocating nothing per packet.
func blastServer(tb testing.TB, nblocks int) netip.AddrPort {
	tb.Helper()
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	tb.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		in := make([]byte, 2048)
		out := make([]byte, 4+512)
		for {
			n, from, err := l.ReadFromUDPAddrPort(in)
			if err != nil {
				return
			}
			op, _ := proto.PeekOpcode(in[:n])
			var next int
			switch op {
			case proto.OpRRQ:
				next = 1
			case proto.OpACK:
				next = int(binary.BigEndian.Uint16(in[2:])) + 1
			default:
				continue
			}
			if next > nblocks {
				continue
			}
			proto.PutDataHeader(out, uint16(next))
			size := 4 + 512
			if next == nblocks {
				size = 4 + 100
			}
			l.WriteToUDPAddrPort(out[:size], from)
		}
	}()
	return l.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestGetAllocsPerPacket checks that the receive path does not allocate
// per packet: a 2000-block transfer allocates as much as a 2-block one.
func TestGetAllocsPerPacket(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	count := func(nblocks int) float64 {
		addr := blastServer(t, nblocks)
		ctx := context.Background()
		return testing.AllocsPerRun(20, func() {
			if _, err := Get(ctx, addr, "f", Options{Timeout: 5 * time.Second}, io.Discard); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := count(2), count(2000)
	t.Logf("allocations per Get: %v (2 blocks), %v (2000 blocks)", small, large)
	if large > small+5 {
		t.Fatalf("allocations grow with blocks: %v for 2 blocks, %v for 2000", small, large)
	}
}

func BenchmarkGet4K(b *testing.B) {
	addr := blastServer(b, 9)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Get(ctx, addr, "f", Options{}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
