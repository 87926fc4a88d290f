package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Result describes a finished (or failed) transfer.
type Result struct {
	// OACK reports whether the server answered with an OACK; Options are
	// its contents in the server's order.
	OACK    bool
	Options []proto.Option
	// Blksize, Windowsize and Rollover are the parameters in force.
	Blksize    int
	Windowsize int
	Rollover   int
	// Tsize is the acknowledged tsize, -1 when none was.
	Tsize int64
	// Bytes counts payload bytes on the wire (netascii before decoding);
	// Blocks counts DATA blocks delivered in order, the empty final one
	// included.
	Bytes  int64
	Blocks uint64
	// Peer is the server's transfer ID: source address and port of its
	// first reply (RFC 1350 §4). Local is the client's bound address.
	Peer  netip.AddrPort
	Local netip.AddrPort
	// FirstPacket is the time from sending the request to receiving the
	// first reply (OACK, DATA, ACK or ERROR).
	FirstPacket time.Duration
	// Retransmits counts packets the client sent again after a timeout.
	Retransmits int
	// Duplicates counts DATA (Get) or ACK (Put) packets that were not the
	// next expected one: duplicates, out-of-order blocks, repeated OACKs.
	Duplicates int
	// Strangers counts packets from another address than Peer, each
	// answered with ERROR 5.
	Strangers int
	// Duration is the time from sending the request to the end.
	Duration time.Duration
}

// xfer holds what Get and Put share: the socket, the retransmit clock and
// the peer's transfer ID.
type xfer struct {
	ctx        context.Context
	s          *Session
	timeout    time.Duration
	maxRetries int
	retries    int       // retransmits in a row
	due        time.Time // when the retransmit timer fires
	start      time.Time
	res        Result
}

func newXfer(ctx context.Context, server netip.AddrPort, opts *Options, bufSize int) (*xfer, error) {
	s, err := newSession(server, opts.LocalAddr, bufSize)
	if err != nil {
		return nil, err
	}
	x := &xfer{
		ctx:        ctx,
		s:          s,
		timeout:    opts.timeout(),
		maxRetries: opts.retries(),
	}
	x.res.Local = s.local
	x.res.Tsize = -1
	x.res.Blksize = proto.DefaultBlksize
	x.res.Windowsize = 1
	return x, nil
}

// begin records the start time and arms the timer; call right after
// sending the request.
func (x *xfer) begin() {
	x.start = time.Now()
	x.due = x.start.Add(x.timeout)
}

// progress restarts the retransmit timer after in-order progress.
func (x *xfer) progress(now time.Time) {
	x.retries = 0
	x.due = now.Add(x.timeout)
}

// finish fills the Result's duration.
func (x *xfer) finish() Result {
	x.res.Duration = time.Since(x.start)
	return x.res
}

// errRetransmit is returned by next when the retransmit timer fired and
// the budget allows another try; the caller resends and calls resent.
var errRetransmit = errors.New("retransmit")

// resent accounts for a retransmission after errRetransmit.
func (x *xfer) resent(now time.Time) {
	x.res.Retransmits++
	x.due = now.Add(x.timeout)
}

// next returns the next packet from the peer (from anyone before the peer
// is known; its source becomes the peer), answering strangers with ERROR 5.
// It returns errRetransmit when the timer fired, an ErrTimeout error when
// the retry budget is spent, and ctx's error when ctx is done.
func (x *xfer) next() ([]byte, time.Time, error) {
	for {
		// The read deadline is moved lazily: progress only pushes due
		// later, and an early wake-up just re-arms.
		if x.s.armed.IsZero() || x.s.armed.After(x.due) {
			if err := x.s.arm(x.due); err != nil {
				return nil, time.Time{}, err
			}
			if err := x.ctx.Err(); err != nil {
				return nil, time.Time{}, err
			}
		}
		b, from, err := x.s.read()
		now := time.Now()
		if err != nil {
			if cerr := x.ctx.Err(); cerr != nil {
				return nil, now, cerr
			}
			if !errors.Is(err, ErrTimeout) {
				return nil, now, err
			}
			if now.Before(x.due) {
				x.s.armed = time.Time{} // woke early: re-arm
				continue
			}
			if x.retries >= x.maxRetries {
				return nil, now, fmt.Errorf("%w: no answer after %d retransmits of %v", ErrTimeout, x.retries, x.timeout)
			}
			x.retries++
			return nil, now, errRetransmit
		}
		if !x.res.Peer.IsValid() {
			x.res.Peer = from
			x.res.FirstPacket = now.Sub(x.start)
		} else if from != x.res.Peer {
			// RFC 1350 §4: answer with ERROR 5, do not disturb the transfer.
			x.res.Strangers++
			_ = x.s.SendError(from, proto.ErrUnknownTID, "")
			continue
		}
		return b, now, nil
	}
}

// abort sends an ERROR to the peer (when known) and returns err.
func (x *xfer) abort(code proto.ErrorCode, msg string, err error) error {
	if x.res.Peer.IsValid() {
		_ = x.s.SendError(x.res.Peer, code, msg)
	}
	return err
}

// protocolError aborts with an ERROR code carrying reason.
func (x *xfer) protocolError(code proto.ErrorCode, reason string) error {
	return x.abort(code, reason, &ProtocolError{Code: code, Reason: reason})
}

// cancelled aborts after ctx ended.
func (x *xfer) cancelled(err error) error {
	return x.abort(proto.ErrUndefined, "transfer cancelled", err)
}

// serverError turns an ERROR packet into a *tftp.Error with Remote set.
func serverError(b []byte) error {
	e, err := proto.ParseError(b)
	if err != nil {
		return &ProtocolError{Code: proto.ErrIllegalOp, Reason: "malformed ERROR packet"}
	}
	return &tftp.Error{Code: e.Code, Message: e.Message, Remote: true}
}

// acceptOACK validates an OACK and applies it to the Result.
func (x *xfer) acceptOACK(b []byte, requested []proto.Option) (params, error) {
	acked, err := proto.ParseOACK(b)
	if err != nil {
		return params{}, x.protocolError(proto.ErrIllegalOp, "malformed OACK")
	}
	p, reason := applyOACK(requested, acked)
	if reason != "" {
		return params{}, x.protocolError(proto.ErrOptionRefused, reason)
	}
	x.res.OACK = true
	x.res.Options = acked
	x.setParams(p)
	return p, nil
}

func (x *xfer) setParams(p params) {
	x.res.Blksize = p.blksize
	x.res.Windowsize = p.windowsize
	x.res.Rollover = int(p.rollover)
	x.res.Tsize = p.tsize
}

// maxRequestedBlksize returns the largest blksize a request asks for.
func maxRequestedBlksize(opts []proto.Option) int {
	m := proto.DefaultBlksize
	for _, o := range opts {
		if !strings.EqualFold(o.Name, proto.OptBlksize) && !strings.EqualFold(o.Name, proto.OptBlksize2) {
			continue
		}
		if n, err := strconv.Atoi(o.Value); err == nil {
			m = max(m, min(n, proto.MaxBlksize))
		}
	}
	return m
}
