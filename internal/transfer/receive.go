package transfer

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Receive runs the receiving side of a WRQ: an OACK when options were
// acknowledged (else ACK 0), then DATA blocks written in order to dst. With
// a window (RFC 7440) it acknowledges every Windowsize blocks, at once on a
// gap (the last in-order block, so the sender restarts there), and on the
// final short block. A duplicate of the last acknowledged block is
// acknowledged again. If dst implements Committer, Commit runs before the
// final ACK. After that ACK the receiver dallies: a re-sent final block
// (our ACK was lost) is acknowledged again.
//
// The retransmit timer of an upload is always the fixed one: the client's
// timer, not ours, recovers a lost DATA (an RFC 1350 sender ignores a
// duplicate ACK, so an early re-ACK is wasted), and a lost ACK makes the
// client send its DATA again, which we answer at once. The round trip is
// still measured, for the stats.
func (t *Transfer) Receive(ctx context.Context, dst io.Writer) error {
	t.init(proto.HeaderLen + max(t.Params.Blksize, proto.DefaultBlksize) + 1)
	t.rto.init(RetransmitFixed, t.timeout, t.retries)
	defer t.finish()
	blk := t.Params.Blksize
	window := t.Params.Windowsize
	// reply is the packet that acknowledges everything received so far:
	// the OACK until block 1 arrives, then ACK of the last in-order block.
	var reply []byte
	if len(t.Params.Acked) > 0 {
		reply = proto.AppendOACK(t.reply[:0], t.Params.Acked)
	} else {
		reply = proto.AppendAck(t.reply[:0], 0)
	}
	t.reply = reply
	var ackBuf [4]byte
	ack := ackBuf[:0]
	var (
		expect uint64 = 1 // next block wanted
		inWin  int        // in-order blocks since the last ACK
		gapAck bool       // already asked for a resend since the last progress
		// The reply sent last, when it was sent once: the DATA that
		// answers it is a round-trip sample (Karn's rule).
		timed   bool
		timedAt time.Time
	)
	t.send(reply, t.Peer)
	now := t.clock.Now()
	timed, timedAt = true, now
	t.progressed(now)
	deadline := t.deadline(now)
	for {
		pkt, res, err := t.read(ctx, deadline)
		switch res {
		case readAbort:
			return t.abort(ctx, err)
		case readTimeout:
			now := t.clock.Now()
			if t.expired(now) {
				return ErrTimeout
			}
			t.Stats.Retransmits++
			t.send(reply, t.Peer)
			inWin, timed = 0, false
			t.tick(now)
			deadline = t.deadline(now)
			continue
		}
		op, _ := proto.PeekOpcode(pkt)
		switch op {
		case proto.OpERROR:
			return t.clientError(pkt, false)
		case proto.OpDATA:
		default:
			continue // ignored; the timer keeps running
		}
		d, err := proto.ParseData(pkt)
		if err != nil || len(d.Payload) > blk {
			continue
		}
		if d.Block != t.seq.wire(expect) {
			if expect > 1 && d.Block == t.seq.wire(expect-1) {
				// Our ACK was lost and the sender went back: ACK again.
				t.send(reply, t.Peer)
				timed = false
			} else if expect > 1 && !gapAck && window > 1 {
				// A gap inside a window: ask for a resend from expect.
				gapAck = true
				inWin = 0
				t.send(reply, t.Peer)
				timed = false
			}
			continue
		}
		if _, err := dst.Write(d.Payload); err != nil {
			return t.fail(fmt.Errorf("write block %d: %w", expect, err))
		}
		now := t.clock.Now()
		if timed {
			t.rto.sample(now.Sub(timedAt))
			timed = false
		} else {
			t.rto.progress()
		}
		t.progressed(now)
		t.Stats.Bytes += uint64(len(d.Payload))
		ack = proto.AppendAck(ack[:0], d.Block)
		reply = ack
		expect++
		inWin++
		gapAck = false
		t.tick(now)
		deadline = t.deadline(now)
		if len(d.Payload) < blk {
			if c, ok := dst.(Committer); ok {
				if err := c.Commit(); err != nil {
					return t.fail(fmt.Errorf("commit: %w", err))
				}
			}
			t.send(reply, t.Peer)
			t.Stats.Outcome = stats.OutcomeSuccess
			t.dally(ctx, d.Block)
			return nil
		}
		if inWin >= window {
			inWin = 0
			t.send(reply, t.Peer)
			timed, timedAt = true, t.clock.Now()
			deadline = t.deadline(timedAt)
		}
	}
}

// dally keeps the session open for Config.Dally after the final ACK and
// acknowledges a re-sent final block, a bounded number of times.
func (t *Transfer) dally(ctx context.Context, final uint16) {
	d := t.Config.Dally
	if d <= 0 {
		d = 2 * t.timeout
	}
	deadline := t.clock.Now().Add(d)
	// The sender may re-send its whole last window before the final block
	// comes again: the bound allows for that, plus strangers and noise.
	acks := 0
	for range 4*t.Params.Windowsize + 64 {
		if acks > t.retries {
			return
		}
		pkt, res, _ := t.read(ctx, deadline)
		if res != readPacket {
			return // the data is committed: a shutdown now changes nothing
		}
		if dd, err := proto.ParseData(pkt); err == nil && dd.Block == final {
			acks++
			t.Stats.Retransmits++
			t.send(proto.AppendAck(t.ctl[:0], final), t.Peer)
		}
	}
}
