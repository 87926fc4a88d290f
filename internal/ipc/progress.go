package ipc

import (
	"errors"
	"fmt"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// MaxProgressSize bounds Progress.Size: 1 PiB, far above any TFTP transfer
// (a size above it is a lie or a bug).
const MaxProgressSize = 1 << 50

// ErrWouldBlock is returned by TrySendProgress when the master's receive
// queue is full: the report is dropped, the next one brings the news.
var ErrWouldBlock = errors.New("ipc: the peer's queue is full")

// AppendProgress appends the encoding of p, a Progress message, to b. It
// fails, leaving b as it was, on a field out of bounds (Size below -1 or
// above MaxProgressSize, an unknown Source).
func AppendProgress(b []byte, p *stats.Progress) ([]byte, error) {
	w := writer{b: b, msg: "progress"}
	start := len(b)
	w.byte1(msgProgress)
	w.str("session_id", p.SessionID, MaxStringLen)
	w.uvarint(p.Bytes)
	w.uvarint(p.PacketsSent)
	w.uvarint(p.PacketsReceived)
	w.uvarint(p.Retransmits)
	if p.Size < -1 || p.Size > MaxProgressSize {
		w.fail("size", fmt.Sprintf("%d out of range", p.Size))
	}
	w.varint(p.Size)
	w.nonNeg("blksize", p.Blksize)
	w.nonNeg("windowsize", p.Windowsize)
	if !p.Source.Valid() {
		w.fail("source", fmt.Sprintf("unknown source %q", p.Source))
	}
	w.str("source", string(p.Source), MaxStringLen)
	w.duration("rtt", p.RTT)
	return w.finish(start)
}

// DecodeProgress decodes a Progress message. The master calls it on what a
// worker sent, so it trusts nothing: every error wraps ErrMalformed.
func DecodeProgress(b []byte) (*stats.Progress, error) {
	r := reader{b: b, msg: "progress"}
	r.start(msgProgress)
	p := &stats.Progress{
		SessionID:       r.str("session_id", MaxStringLen),
		Bytes:           r.uvarint("bytes"),
		PacketsSent:     r.uvarint("packets_sent"),
		PacketsReceived: r.uvarint("packets_received"),
		Retransmits:     r.uvarint("retransmits"),
		Size:            r.varint("size"),
	}
	if r.err == nil && (p.Size < -1 || p.Size > MaxProgressSize) {
		r.fail("size", fmt.Sprintf("%d out of range", p.Size))
	}
	p.Blksize = r.nonNeg("blksize")
	p.Windowsize = r.nonNeg("windowsize")
	p.Source = stats.Source(r.str("source", MaxStringLen))
	p.RTT = r.duration("rtt")
	if r.err == nil && !p.Source.Valid() {
		r.fail("source", fmt.Sprintf("unknown source %q", p.Source))
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return p, nil
}

// TrySendProgress sends a Progress message (worker side) without waiting:
// when the master's queue is full it returns ErrWouldBlock and the report
// is lost, never the session's time. The encoding reuses the Conn's
// buffer.
func (c *Conn) TrySendProgress(p *stats.Progress) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := AppendProgress(c.wbuf[:0], p)
	if cap(b) <= maxKeptBuf {
		c.wbuf = b[:0]
	}
	if err != nil {
		return err
	}
	return c.trySend(b)
}

// Report is one message a worker sends after its Handoff: exactly one of
// Progress, Stats and Origin is set.
type Report struct {
	Progress *stats.Progress
	Stats    *stats.SessionStats
	Origin   *stats.OriginStats
	Ready    bool // a Ready message: whether one is allowed here is the caller's to check
}

// RecvReport receives a worker's next message after its Handoff: a
// Progress, its Stats, an OriginStats or a Ready. It trusts nothing: a message of
// another type, one that does not decode or that carries descriptors is an
// error wrapping ErrMalformed. EOF is io.EOF.
func (c *Conn) RecvReport() (Report, error) {
	b, _, err := c.recvMsg(false)
	if err != nil {
		return Report{}, c.wrapErr("recv report", err)
	}
	if len(b) == 0 {
		return Report{}, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	var rep Report
	switch b[0] {
	case msgProgress:
		rep.Progress, err = DecodeProgress(b)
	case msgStats:
		rep.Stats, err = DecodeStats(b)
	case msgOrigin:
		rep.Origin, err = DecodeOriginStats(b)
	case msgReady:
		err = DecodeReady(b)
		rep.Ready = err == nil
	default:
		err = fmt.Errorf("%w: a worker's report of type %d", ErrMalformed, b[0])
	}
	return rep, err
}
