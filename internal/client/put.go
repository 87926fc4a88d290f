package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Put uploads r to server as file (WRQ).
//
// size is sent as the tsize option when Options.Tsize is set and size >= 0;
// in netascii mode it should be the encoded size (proto.NetasciiSize). r is
// read block by block; in netascii mode it is encoded with
// proto.NewNetasciiEncoder.
//
// The server answers the WRQ with ACK 0 or an OACK. Put then sends DATA in
// lockstep or in windows (RFC 7440): after a window it waits for an ACK; an
// ACK for a block inside the window restarts the window after it (§4); a
// duplicate ACK is ignored, never answered with a retransmission (the
// Sorcerer's Apprentice bug); on timeout the window is sent again.
// Errors are as for Get.
func Put(ctx context.Context, server netip.AddrPort, file string, opts Options, r io.Reader, size int64) (Result, error) {
	reqOpts := opts.requestOptions(proto.OpWRQ, size)
	x, err := newXfer(ctx, server, &opts, 1024)
	if err != nil {
		return Result{Tsize: -1}, err
	}
	defer x.s.Close()
	stop := context.AfterFunc(ctx, func() { _ = x.s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	pt := putter{xfer: x, opts: &opts, reqOpts: reqOpts, p: defaultParams(), src: r}
	if opts.Mode == proto.ModeNetascii {
		pt.src = proto.NewNetasciiEncoder(r)
	}
	err = pt.run(file)
	return x.finish(), err
}

// putter is the send side of a WRQ.
type putter struct {
	*xfer
	opts     *Options
	reqOpts  []proto.Option
	p        params
	src      io.Reader
	slots    [][]byte // DATA packets of the current window, by index % windowsize
	acked    uint64   // highest block index acknowledged (0: the WRQ)
	produced uint64   // highest block index read from src
	sent     uint64   // highest block index of the window in flight
	final    uint64   // index of the last block, 0 until read
}

func (pt *putter) run(file string) error {
	req := proto.AppendRequest(nil, proto.OpWRQ, file, pt.opts.Mode.String(), pt.reqOpts)
	if err := pt.s.Send(req); err != nil {
		return err
	}
	pt.begin()
	started := false // the server answered the WRQ
	for {
		b, now, err := pt.next()
		switch {
		case err == errRetransmit:
			if !started {
				err = pt.s.Send(req)
			} else {
				err = pt.sendWindow()
			}
			if err != nil {
				return err
			}
			pt.resent(now)
			continue
		case err != nil:
			if pt.ctx.Err() != nil {
				return pt.cancelled(err)
			}
			return pt.abort(proto.ErrUndefined, "timeout", err)
		}
		op, _ := proto.PeekOpcode(b)
		switch op {
		case proto.OpOACK:
			if started {
				pt.res.Duplicates++ // a late copy: our first DATA is on its way
				continue
			}
			p, err := pt.acceptOACK(b, pt.reqOpts)
			if err != nil {
				return err
			}
			pt.p = p
			started = true
		case proto.OpACK:
			n, err := proto.ParseAck(b)
			if err != nil {
				return pt.protocolError(proto.ErrIllegalOp, "malformed ACK")
			}
			if !started {
				if n != 0 {
					return pt.protocolError(proto.ErrIllegalOp, fmt.Sprintf("ACK %d before any DATA", n))
				}
				started = true
				break
			}
			j, ok := index(n, pt.acked, pt.sent, pt.p.rollover)
			if !ok || j == pt.acked {
				pt.res.Duplicates++ // stale or duplicate: never retransmit on it
				continue
			}
			pt.acked = j
			pt.res.Blocks = j
			if j == pt.final {
				return nil
			}
		case proto.OpERROR:
			return serverError(b)
		default:
			return pt.protocolError(proto.ErrIllegalOp, fmt.Sprintf("unexpected %v", op))
		}
		pt.progress(now)
		if err := pt.sendWindow(); err != nil {
			return err
		}
	}
}

// sendWindow sends blocks acked+1 .. acked+windowsize (or up to the final
// one), reading new blocks from the source as needed.
func (pt *putter) sendWindow() error {
	w := uint64(pt.p.windowsize)
	if pt.slots == nil {
		pt.slots = make([][]byte, w)
	}
	for i := pt.acked + 1; i <= pt.acked+w; i++ {
		if i > pt.produced {
			if err := pt.produce(i); err != nil {
				return err
			}
		}
		pkt := pt.slots[i%w]
		proto.PutDataHeader(pkt, wire(i, pt.p.rollover))
		if err := pt.s.SendTo(pkt, pt.res.Peer); err != nil {
			return err
		}
		pt.sent = i
		if i == pt.final {
			break
		}
	}
	return nil
}

// produce reads block i from the source into its slot.
func (pt *putter) produce(i uint64) error {
	w := uint64(pt.p.windowsize)
	slot := pt.slots[i%w]
	if cap(slot) < proto.HeaderLen+pt.p.blksize {
		slot = make([]byte, proto.HeaderLen+pt.p.blksize)
	}
	slot = slot[:proto.HeaderLen+pt.p.blksize]
	n, err := io.ReadFull(pt.src, slot[proto.HeaderLen:])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		pt.final = i
	case err != nil:
		return pt.abort(proto.ErrUndefined, "read error", fmt.Errorf("tftp: read: %w", err))
	}
	pt.slots[i%w] = slot[:proto.HeaderLen+n]
	pt.produced = i
	pt.res.Bytes += int64(n)
	return nil
}
