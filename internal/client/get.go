package client

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Get downloads file from server (RRQ) and writes its content to w.
//
// It acknowledges an OACK with ACK 0 (RFC 2347) or takes DATA 1 as the
// answer of a server that ignores options. With a window (RFC 7440) it
// ACKs each full window, the final short block, and, on a gap, the last
// in-order block once. A duplicate of the block its last ACK named is
// re-ACKed (that ACK was lost); other duplicates are dropped, so a network
// duplicate mid-window does not make the server restart the window. On
// timeout it ACKs the last in-order block again (or resends the request),
// up to Options.Retries times in a row. A packet from another address than
// the server's transfer ID gets ERROR 5 and is otherwise ignored.
//
// The error is a *tftp.Error (Remote set) when the server sent ERROR, a *ProtocolError
// when it broke the protocol, wraps ErrTimeout when it went silent, or is
// ctx's error. The Result is filled as far as the transfer went.
func Get(ctx context.Context, server netip.AddrPort, file string, opts Options, w io.Writer) (Result, error) {
	reqOpts := opts.requestOptions(proto.OpRRQ, -1)
	bufSize := max(1024, maxRequestedBlksize(reqOpts)+proto.HeaderLen+1)
	x, err := newXfer(ctx, server, &opts, bufSize)
	if err != nil {
		return Result{Tsize: -1}, err
	}
	defer x.s.Close()
	if opts.Windowsize > 1 {
		setRecvBuffer(x.s.conn, 2*opts.Windowsize*(maxRequestedBlksize(reqOpts)+64))
	}
	stop := context.AfterFunc(ctx, func() { _ = x.s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	g := getter{xfer: x, opts: &opts, reqOpts: reqOpts, p: defaultParams(), w: w}
	if opts.Mode == proto.ModeNetascii {
		g.dec = proto.NewNetasciiDecoder(w)
		g.w = g.dec
	}
	err = g.run(file)
	return x.finish(), err
}

// getter is the receive side of an RRQ.
type getter struct {
	*xfer
	opts     *Options
	reqOpts  []proto.Option
	p        params
	w        io.Writer
	dec      *proto.NetasciiDecoder
	req      []byte // the RRQ, resent until the first answer
	ack      []byte // scratch for ACKs
	got      uint64 // blocks accepted in order
	sinceAck int    // blocks accepted since the last ACK sent
	gapAcked bool   // a gap was reported and nothing arrived in order since
	oack     bool
}

func (g *getter) sendAck(i uint64) error {
	g.ack = proto.AppendAck(g.ack[:0], wire(i, g.p.rollover))
	g.sinceAck = 0
	return g.s.SendTo(g.ack, g.res.Peer)
}

func (g *getter) run(file string) error {
	g.req = proto.AppendRequest(nil, proto.OpRRQ, file, g.opts.Mode.String(), g.reqOpts)
	if err := g.s.Send(g.req); err != nil {
		return err
	}
	g.begin()
	for {
		b, now, err := g.next()
		switch {
		case err == errRetransmit:
			if err := g.retransmit(); err != nil {
				return err
			}
			g.resent(now)
			continue
		case err != nil:
			if g.ctx.Err() != nil {
				return g.cancelled(err)
			}
			return g.abort(proto.ErrUndefined, "timeout", err)
		}
		op, _ := proto.PeekOpcode(b)
		switch op {
		case proto.OpDATA:
			done, err := g.data(b, now)
			if err != nil || done {
				return err
			}
		case proto.OpOACK:
			if err := g.oackPacket(b, now); err != nil {
				return err
			}
		case proto.OpERROR:
			return serverError(b)
		default:
			return g.protocolError(proto.ErrIllegalOp, fmt.Sprintf("unexpected %v", op))
		}
	}
}

// retransmit resends the request before any answer, else ACKs the last
// in-order block (RFC 7440 §4: the sender restarts the window after it).
func (g *getter) retransmit() error {
	if g.got == 0 && !g.oack {
		return g.s.Send(g.req)
	}
	g.gapAcked = false
	return g.sendAck(g.got)
}

func (g *getter) oackPacket(b []byte, now time.Time) error {
	switch {
	case !g.oack && g.got == 0:
		p, err := g.acceptOACK(b, g.reqOpts)
		if err != nil {
			return err
		}
		g.p, g.oack = p, true
		if g.p.windowsize > 1 && g.opts.Windowsize <= 1 {
			setRecvBuffer(g.s.conn, 2*g.p.windowsize*(g.p.blksize+64))
		}
		g.progress(now)
		return g.sendAck(0)
	case g.got == 0:
		// Our ACK 0 was lost and the server sent its OACK again.
		g.res.Duplicates++
		return g.sendAck(0)
	}
	g.res.Duplicates++ // a late copy; ignore it
	return nil
}

// data handles a DATA packet and reports whether the transfer is complete.
func (g *getter) data(b []byte, now time.Time) (bool, error) {
	d, err := proto.ParseData(b)
	if err != nil {
		return false, g.protocolError(proto.ErrIllegalOp, "malformed DATA")
	}
	if d.Block != wire(g.got+1, g.p.rollover) {
		g.res.Duplicates++
		if g.got == 0 && !g.oack {
			return false, nil // nothing to acknowledge yet
		}
		if _, ahead := index(d.Block, g.got+2, g.got+32768, g.p.rollover); ahead {
			// A gap: report the last in-order block, once per gap.
			if !g.gapAcked {
				g.gapAcked = true
				return false, g.sendAck(g.got)
			}
			return false, nil
		}
		// A duplicate. A copy of the block our last ACK named means that
		// ACK was lost (lockstep, or the end of a window): ACK it again.
		// Mid-window, a copy is just a network duplicate: an ACK would
		// make the sender restart the window (RFC 7440 §4).
		if d.Block == wire(g.got, g.p.rollover) && g.sinceAck == 0 {
			return false, g.sendAck(g.got)
		}
		return false, nil
	}
	if len(d.Payload) > g.p.blksize {
		return false, g.protocolError(proto.ErrIllegalOp, fmt.Sprintf("block %d larger than blksize %d", d.Block, g.p.blksize))
	}
	if len(d.Payload) > 0 {
		if _, err := g.w.Write(d.Payload); err != nil {
			return false, g.abort(proto.ErrDiskFull, "", fmt.Errorf("tftp: write: %w", err))
		}
	}
	g.got++
	g.res.Blocks = g.got
	g.res.Bytes += int64(len(d.Payload))
	g.sinceAck++
	g.gapAcked = false
	g.progress(now)
	final := len(d.Payload) < g.p.blksize
	if final || g.sinceAck >= g.p.windowsize {
		if err := g.sendAck(g.got); err != nil {
			return false, err
		}
	}
	if !final {
		return false, nil
	}
	if g.dec != nil {
		if err := g.dec.Flush(); err != nil {
			return true, fmt.Errorf("tftp: write: %w", err)
		}
	}
	return true, g.dally()
}

// dally waits Options.Dally after the final ACK and ACKs the final block
// again if the server resends it because that ACK was lost (RFC 1350 §6).
func (g *getter) dally() error {
	if g.opts.Dally <= 0 {
		return nil
	}
	g.due = time.Now().Add(g.opts.Dally)
	g.maxRetries = 0
	for {
		b, _, err := g.next()
		if err != nil {
			return nil // dallied long enough (or ctx ended): the transfer is complete
		}
		if d, err := proto.ParseData(b); err == nil && d.Block == wire(g.got, g.p.rollover) {
			g.res.Duplicates++
			if err := g.sendAck(g.got); err != nil {
				return err
			}
		}
	}
}
