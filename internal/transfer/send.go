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

// blockSource yields DATA packets by absolute block number. The returned
// packet has its 4-byte header filled; its payload is shorter than blksize
// only for the last block.
type blockSource interface {
	packet(k uint64, wire uint16) ([]byte, error)
}

// readerAtSource reads block k at offset (k-1)*blksize: retransmissions read
// again instead of buffering, so memory is one packet whatever the window.
type readerAtSource struct {
	ra  io.ReaderAt
	blk int
	buf []byte
}

func (s *readerAtSource) packet(k uint64, wire uint16) ([]byte, error) {
	proto.PutDataHeader(s.buf, wire)
	n, err := s.ra.ReadAt(s.buf[proto.HeaderLen:], int64(k-1)*int64(s.blk))
	if n == s.blk {
		err = nil
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return s.buf[:proto.HeaderLen+n], nil
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

func (s *ringSource) packet(k uint64, wire uint16) ([]byte, error) {
	w := uint64(len(s.slots))
	if k+w < s.next {
		return nil, fmt.Errorf("block %d is no longer buffered", k)
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
				return nil, err
			}
		}
		s.lens[i] = n
		s.next++
	}
	i := k % w
	pkt := s.slots[i][:proto.HeaderLen+s.lens[i]]
	proto.PutDataHeader(pkt, wire)
	return pkt, nil
}

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
		if cap(t.ras.buf) < proto.HeaderLen+blk {
			t.ras.buf = make([]byte, proto.HeaderLen+blk)
		}
		t.ras.ra, t.ras.blk, t.ras.buf = ra, blk, t.ras.buf[:proto.HeaderLen+blk]
		source = &t.ras
	} else {
		t.ring.reset(src, blk, t.Params.Windowsize)
		source = &t.ring
	}
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

func (t *Transfer) sendData(ctx context.Context, source blockSource) error {
	blk := t.Params.Blksize
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
		byACK   = true // the last burst was sent on an ACK, not a timeout
		fresh   uint64 // first new block of the last burst; 0: none
		burstAt time.Time
	)
	t.progressed(t.clock.Now())
	for {
		fresh = 0
		for next < base+window && (last == 0 || next <= last) {
			pkt, err := source.packet(next, t.seq.wire(next))
			if err != nil {
				return t.fail(fmt.Errorf("read block %d: %w", next, err))
			}
			if n := len(pkt) - proto.HeaderLen; n < blk {
				last, lastLen = next, n
			}
			if next <= maxSent {
				t.Stats.Retransmits++
			} else {
				maxSent = next
				if fresh == 0 {
					fresh = next
				}
			}
			t.send(pkt, t.Peer)
			next++
		}
		burstAt = t.clock.Now()
		deadline := t.deadline(burstAt)
	wait:
		for {
			pkt, res, err := t.read(ctx, deadline)
			switch res {
			case readAbort:
				return t.abort(ctx, err)
			case readTimeout:
				if t.expired(t.clock.Now()) {
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
				now := t.clock.Now()
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
