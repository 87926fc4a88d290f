package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// blockSource writes DATA packets by absolute block number. fill writes
// block k with wire number wire into dst (HeaderLen+blksize bytes) and
// returns the packet's length: shorter than dst only for the last block.
type blockSource interface {
	fill(dst []byte, k uint64, wire uint16) (int, error)
}

// readAhead is how much readerAtSource reads at once for small blocks: one
// pread serves 44 blocks of 1468 bytes, where a pread per block would cost
// a system call per packet.
const readAhead = 64 << 10

// readerAtSource reads block k at offset (k-1)*blksize: retransmissions read
// again instead of buffering the window. Blocks up to a quarter of
// readAhead are copied out of a reused read-ahead buffer; larger ones are
// read straight into the packet.
type readerAtSource struct {
	ra    io.ReaderAt
	blk   int
	ahead []byte // read-ahead buffer, nil for large blocks
	off   int64  // file offset of ahead[0]
	n     int    // valid bytes in ahead
	eof   bool   // the file ends at off+n
}

func (s *readerAtSource) reset(ra io.ReaderAt, blk int) {
	s.ra, s.blk, s.off, s.n, s.eof = ra, blk, 0, 0, false
	if blk <= readAhead/4 {
		if cap(s.ahead) < readAhead {
			s.ahead = make([]byte, readAhead)
		}
		s.ahead = s.ahead[:readAhead]
	} else {
		s.ahead = nil
	}
}

func (s *readerAtSource) fill(dst []byte, k uint64, wire uint16) (int, error) {
	proto.PutDataHeader(dst, wire)
	off := int64(k-1) * int64(s.blk)
	if s.ahead == nil {
		n, err := s.ra.ReadAt(dst[proto.HeaderLen:proto.HeaderLen+s.blk], off)
		if n == s.blk || errors.Is(err, io.EOF) {
			err = nil
		}
		return proto.HeaderLen + n, err
	}
	end := off + int64(s.blk)
	if off < s.off || (end > s.off+int64(s.n) && !s.eof) {
		n, err := s.ra.ReadAt(s.ahead, off)
		if n == len(s.ahead) || errors.Is(err, io.EOF) {
			err = nil
		}
		if err != nil {
			return 0, err
		}
		s.off, s.n, s.eof = off, n, n < len(s.ahead)
	}
	var n int
	if off < s.off+int64(s.n) {
		n = copy(dst[proto.HeaderLen:proto.HeaderLen+s.blk], s.ahead[off-s.off:s.n])
	}
	return proto.HeaderLen + n, nil
}

// ringSource reads a plain io.Reader sequentially into a ring of one window
// of packets, so the blocks of the current window can be sent again.
type ringSource struct {
	r     io.Reader
	blk   int
	slots [][]byte
	lens  []int
	next  uint64 // next block to read from r
	done  bool   // r is at EOF
}

// reset prepares the ring for a new reader, reusing its memory when the
// geometry allows.
func (s *ringSource) reset(r io.Reader, blk, window int) {
	if s.blk != blk || len(s.slots) != window {
		s.slots = make([][]byte, window)
		s.lens = make([]int, window)
		for i := range s.slots {
			s.slots[i] = make([]byte, proto.HeaderLen+blk)
		}
	}
	s.r, s.blk, s.next, s.done = r, blk, 1, false
}

func (s *ringSource) fill(dst []byte, k uint64, wire uint16) (int, error) {
	w := uint64(len(s.slots))
	if k+w < s.next {
		return 0, fmt.Errorf("block %d is no longer buffered", k)
	}
	for s.next <= k {
		i := s.next % w
		n := 0
		if !s.done {
			var err error
			n, err = io.ReadFull(s.r, s.slots[i][proto.HeaderLen:])
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				s.done = true
			case err != nil:
				return 0, err
			}
		}
		s.lens[i] = n
		s.next++
	}
	i := k % w
	proto.PutDataHeader(dst, wire)
	return proto.HeaderLen + copy(dst[proto.HeaderLen:], s.slots[i][proto.HeaderLen:proto.HeaderLen+s.lens[i]]), nil
}

// maxBatch bounds the packets of a window sent in one system call: one UDP
// GSO send's worth.
const maxBatch = 64 << 10

// Send runs the sending side of an RRQ: an OACK when options were
// acknowledged (or block 1 at once), then DATA in lockstep or in windows of
// Params.Windowsize blocks (RFC 7440), until the final short block is
// acknowledged. src is read with ReadAt when it implements io.ReaderAt.
//
// Retransmission happens only on timeout, from the oldest unacknowledged
// block, never on a duplicate ACK (the Sorcerer's Apprentice bug, RFC 1123
// §4.2.3.1). An ACK for an earlier block of the window restarts the window
// after it (RFC 7440 §4). Send fills t.Stats and returns nil on success and
// on the UEFI size probe.
func (t *Transfer) Send(ctx context.Context, src io.Reader) error {
	t.init(proto.MaxPacketSize + 1)
	defer t.finish()
	blk := t.Params.Blksize
	var source blockSource
	if ra, ok := src.(io.ReaderAt); ok {
		t.ras.reset(ra, blk)
		source = &t.ras
	} else {
		t.ring.reset(src, blk, t.Params.Windowsize)
		source = &t.ring
	}
	// The packets of a burst are built back to back in t.out and, when
	// the conn can, sent in one system call.
	slot := proto.HeaderLen + blk
	t.batch = 1
	if _, ok := t.Conn.(BatchWriter); ok && t.Params.Windowsize > 1 {
		t.batch = max(1, min(t.Params.Windowsize, maxBatch/slot))
	}
	if cap(t.out) < t.batch*slot {
		t.out = make([]byte, t.batch*slot)
	}
	t.out = t.out[:t.batch*slot]
	if len(t.Params.Acked) > 0 {
		if done, err := t.sendOACK(ctx); done || err != nil {
			return err
		}
	}
	return t.sendData(ctx, source)
}

// sendOACK sends the OACK and waits for ACK 0 (RFC 2347). It reports done
// when the session ended (probe, client error, timeout, shutdown).
func (t *Transfer) sendOACK(ctx context.Context) (bool, error) {
	t.reply = proto.AppendOACK(t.reply[:0], t.Params.Acked)
	oack := t.reply
	probe := t.Params.Tsize >= 0
	t.progressed(t.clock.Now())
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t.Stats.Retransmits++
		}
		t.send(oack, t.Peer)
		sent := t.clock.Now()
		deadline := t.deadline(sent)
		for {
			pkt, res, err := t.read(ctx, deadline)
			if res == readAbort {
				return true, t.abort(ctx, err)
			}
			if res == readTimeout {
				if t.expired(t.clock.Now()) {
					return true, ErrTimeout
				}
				break
			}
			op, _ := proto.PeekOpcode(pkt)
			switch op {
			case proto.OpACK:
				if n, err := proto.ParseAck(pkt); err == nil && n == 0 {
					now := t.clock.Now()
					if attempt == 0 {
						t.rto.sample(now.Sub(sent)) // Karn: only an OACK sent once
					} else {
						t.rto.progress()
					}
					t.progressed(now)
					return false, nil
				}
			case proto.OpERROR:
				return true, t.clientError(pkt, probe)
			}
			// Anything else from the peer is ignored; the timer keeps running.
		}
	}
}

// flush sends the n packets laid out in buf, each slot bytes long but the
// last. With a BatchWriter they go out in one call.
func (t *Transfer) flush(n int, buf []byte, slot int) {
	switch n {
	case 0:
		return
	case 1:
		t.send(buf, t.Peer)
		return
	}
	if t.Config.Trace != nil {
		for off := 0; off < len(buf); off += slot {
			t.Config.Trace("send", buf[off:min(off+slot, len(buf))], t.Peer)
		}
	}
	// A failed send is treated like lost packets, as in send.
	_ = t.Conn.(BatchWriter).WriteBatch(buf, slot, t.Peer)
	t.Stats.PacketsSent += uint64(n)
}

func (t *Transfer) sendData(ctx context.Context, source blockSource) error {
	blk := t.Params.Blksize
	slot := proto.HeaderLen + blk
	window := uint64(t.Params.Windowsize)
	var (
		base    uint64 = 1 // oldest unacknowledged block
		next    uint64 = 1 // next block to send
		maxSent uint64     // highest block sent so far
		last    uint64     // the final (short) block, once known
		lastLen int        // its payload length
		// Round-trip samples. Every ACK is followed by a burst that
		// resends what the client discarded (it told us so: the copies
		// sent before cannot be acknowledged any more), so an ACK after
		// such a burst answers it. A burst sent after a timeout is
		// ambiguous instead (Karn's rule): the copies it repeats may be
		// late, not lost; only its new blocks, from fresh on, are sent
		// once.
		byACK      = true // the last burst was sent on an ACK, not a timeout
		fresh      uint64 // first new block of the last burst; 0: none
		prevMax    uint64 // maxSent before the last burst
		burstFirst uint64 // the first block of the last burst
		burstAt    time.Time
	)
	// One clock reading per round: when an ACK (or a timeout) ends a
	// wait, the next burst goes out at once and is timed from then.
	now := t.clock.Now()
	t.progressed(now)
	for {
		fresh, prevMax, burstFirst = 0, maxSent, next
		queued, used := 0, 0 // packets (and bytes) built in t.out, not sent yet
		for next < base+window && (last == 0 || next <= last) {
			n, err := source.fill(t.out[used:used+slot], next, t.seq.wire(next))
			if err != nil {
				t.flush(queued, t.out[:used], slot)
				return t.fail(fmt.Errorf("read block %d: %w", next, err))
			}
			if n-proto.HeaderLen < blk {
				last, lastLen = next, n-proto.HeaderLen
			}
			if next <= maxSent {
				t.Stats.Retransmits++
			} else {
				maxSent = next
				if fresh == 0 {
					fresh = next
				}
			}
			queued, used = queued+1, used+n
			next++
			// Only the final block is short, and it ends the burst.
			if n < slot || queued == t.batch {
				t.flush(queued, t.out[:used], slot)
				queued, used = 0, 0
			}
		}
		t.flush(queued, t.out[:used], slot)
		burstAt = now
		t.tick(now)
		deadline := t.deadline(now)
	wait:
		for {
			pkt, res, err := t.read(ctx, deadline)
			switch res {
			case readAbort:
				return t.abort(ctx, err)
			case readTimeout:
				now = t.clock.Now()
				if t.expired(now) {
					return ErrTimeout
				}
				next = base // go back to the oldest unacknowledged block
				byACK = false
				break wait
			}
			op, _ := proto.PeekOpcode(pkt)
			switch op {
			case proto.OpACK:
				n, err := proto.ParseAck(pkt)
				if err != nil {
					continue
				}
				k, ok := t.seq.abs(n, base, next-1)
				if !ok {
					continue // duplicate or stale ACK: never resend on it
				}
				now = t.clock.Now()
				if k < next-1 && k == burstFirst && burstFirst <= prevMax {
					// The client acknowledges the first block of the last
					// burst, one it had before (we sent it again), and
					// no further: the ACK of a client that answers a
					// duplicate (atftp acknowledges the first one it
					// gets), sent while the rest of the burst is still on
					// its way. Going back would send that rest again as
					// duplicates, for another such ACK, window after
					// window (a Sorcerer's Apprentice loop with windows).
					// Slide the window, resend nothing (the next block is
					// most likely in flight too), and let the timeout
					// repair a real loss. Other ACKs inside the window
					// restart it at once, as RFC 7440 §4 says.
					t.rto.progress()
					t.progressed(now)
					base, byACK = k+1, false
					t.Stats.Bytes = k * uint64(blk)
					break wait
				}
				if byACK || (fresh != 0 && k >= fresh) {
					t.rto.sample(now.Sub(burstAt))
				} else {
					t.rto.progress()
				}
				t.progressed(now)
				base, next, byACK = k+1, k+1, true
				if last != 0 && k == last {
					t.Stats.Bytes = (k-1)*uint64(blk) + uint64(lastLen)
					t.Stats.Outcome = stats.OutcomeSuccess
					return nil
				}
				t.Stats.Bytes = k * uint64(blk)
				break wait
			case proto.OpERROR:
				return t.clientError(pkt, false)
			}
		}
	}
}
