package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Defaults used when a Config field is zero.
const (
	DefaultTimeout = time.Second // in.tftpd's -T default
	DefaultRetries = 5           // 1+2+4+8+16+32 = 63 timeouts, as in.tftpd gives up at 63x -T
)

// Config tunes the engine. The zero value works.
type Config struct {
	// Timeout is in.tftpd's -T: the retransmit timeout of the fixed
	// policy, and for the adaptive one the longest first wait for an
	// answer. A timeout or utimeout option negotiated by the client
	// replaces it. Each consecutive timeout doubles the wait (up to 32x).
	Timeout time.Duration
	// Retries sets the give-up time: a session that makes no progress
	// for as long as the fixed policy takes to send a packet Retries more
	// times (1+2+4+8+16+32 = 63 times Timeout for 5) ends with outcome
	// "timeout". With the fixed policy that is exactly Retries
	// retransmissions; the adaptive one makes more, earlier.
	Retries int
	// Retransmit is the retransmission policy; the zero value is
	// RetransmitAdaptive.
	Retransmit Retransmit
	// Dally is how long the receiver of a WRQ keeps listening after its
	// final ACK, to ACK a re-sent last block again; 0 means twice the
	// retransmit timeout.
	Dally time.Duration
	// Clock tells the time; nil means the wall clock.
	Clock Clock
	// Trace, when set, is called for every packet sent ("send") and
	// received ("recv"). The slice is only valid during the call.
	Trace func(dir string, pkt []byte, peer netip.AddrPort)
	// Progress, when set, is called with the session's stats so far about
	// once per ProgressInterval while the transfer runs (the worker
	// reports them to the master). The engine checks the time only where
	// it reads the clock anyway, once per window sent or block received:
	// a comparison per window, nothing per packet.
	Progress func(*stats.SessionStats)
	// ProgressInterval is the time between two Progress calls; 0 means
	// DefaultProgressInterval.
	ProgressInterval time.Duration
}

// DefaultProgressInterval is the default Config.ProgressInterval: two
// reports a second make a live view move and a counter's rate() smooth,
// at a cost the master does not notice (one small message per session).
const DefaultProgressInterval = 500 * time.Millisecond

// Transfer is one session's transfer: a socket, the peer, the negotiated
// parameters and the stats to fill.
type Transfer struct {
	Conn   PacketConn
	Peer   netip.AddrPort
	Params proto.Params
	Config Config
	// Stats is filled as the transfer runs; must not be nil.
	Stats *stats.SessionStats

	// Buffers are kept across runs, so a Transfer reused for another
	// session (as the benchmarks do) allocates nothing.
	clock   Clock
	timeout time.Duration // the session's base timeout (Config.Timeout or negotiated)
	retries int
	rto     rto
	giveUp  time.Time // when the session gives up unless it makes progress
	errorAt time.Time // the ERROR 5 budget: answers are allowed once it is a second in the past
	seq     seq
	nextRep time.Time // when Config.Progress is due; zero before the first tick
	ctl     []byte    // ERROR packets we send
	reply   []byte    // OACK or ACK packets we send
	rbuf    []byte    // receive buffer
	out     []byte    // DATA packets being sent: up to batch of them, back to back
	batch   int       // packets sent per system call (1 without a BatchWriter)
	ras     readerAtSource
	ring    ringSource
}

// ErrTimeout is returned when the retry budget is exhausted.
var ErrTimeout = errors.New("transfer timed out")

// ErrShutdown is returned when the context ended the transfer.
var ErrShutdown = errors.New("transfer stopped by shutdown")

// Committer is implemented by WRQ sinks that make the received data durable
// (for example: fsync and rename a temporary file). Receive calls Commit
// after the last block is written and before the final ACK; an error is
// sent to the client instead of that ACK.
type Committer interface {
	Commit() error
}

func (t *Transfer) init(recvSize int) {
	t.clock = t.Config.Clock
	if t.clock == nil {
		t.clock = RealClock
	}
	t.timeout = t.Config.Timeout
	if t.Params.Timeout > 0 {
		t.timeout = t.Params.Timeout
	}
	if t.timeout <= 0 {
		t.timeout = DefaultTimeout
	}
	t.retries = t.Config.Retries
	if t.retries <= 0 {
		t.retries = DefaultRetries
	}
	if t.Params.Blksize == 0 {
		t.Params.Blksize = proto.DefaultBlksize
	}
	if t.Params.Windowsize == 0 {
		t.Params.Windowsize = 1
	}
	t.rto.init(t.Config.Retransmit, t.timeout, t.retries)
	t.errorAt = time.Time{}
	t.seq = seq{rollover: t.Params.Rollover}
	t.nextRep = time.Time{}
	if cap(t.ctl) < 512 {
		t.ctl = make([]byte, 0, 512)
	}
	if cap(t.rbuf) < recvSize {
		t.rbuf = make([]byte, recvSize)
	}
	t.rbuf = t.rbuf[:recvSize]
	st := t.Stats
	if st.Start.IsZero() {
		st.Start = t.clock.Now()
	}
	st.Blksize = t.Params.Blksize
	st.Windowsize = t.Params.Windowsize
	st.Tsize = t.Params.Tsize
	st.OptionsAcked = t.Params.Acked
}

// tick calls Config.Progress when it is due; now is a time the engine read
// anyway. The first tick only starts the interval.
func (t *Transfer) tick(now time.Time) {
	if t.Config.Progress == nil || now.Before(t.nextRep) {
		return
	}
	if !t.nextRep.IsZero() {
		t.Stats.RTT = t.rto.smoothed()
		t.Config.Progress(t.Stats)
	}
	d := t.Config.ProgressInterval
	if d <= 0 {
		d = DefaultProgressInterval
	}
	t.nextRep = now.Add(d)
}

// progressed restarts the give-up clock: the peer acknowledged something
// new (or the session just started) at now.
func (t *Transfer) progressed(now time.Time) { t.giveUp = now.Add(t.rto.budget) }

// deadline is when to stop waiting for an answer to what was sent at now:
// one retransmit timeout later, or at the give-up time if that is sooner.
func (t *Transfer) deadline(now time.Time) time.Time {
	d := now.Add(t.rto.wait())
	if d.After(t.giveUp) {
		return t.giveUp
	}
	return d
}

// expired handles a read that timed out at now: it reports whether the
// session must give up (recording the outcome), and otherwise backs the
// retransmit timer off for the retransmission that follows.
func (t *Transfer) expired(now time.Time) bool {
	if !now.Before(t.giveUp) {
		t.Stats.Outcome = stats.OutcomeTimeout
		return true
	}
	t.rto.timedOut()
	return false
}

func (t *Transfer) send(pkt []byte, to netip.AddrPort) {
	if t.Config.Trace != nil {
		t.Config.Trace("send", pkt, to)
	}
	// A failed send is treated like a lost packet: the retransmit timer
	// recovers or the retry budget ends the session.
	_ = t.Conn.WritePacket(pkt, to)
	t.Stats.PacketsSent++
}

// sendError sends an ERROR to the peer and records it in the stats.
func (t *Transfer) sendError(code proto.ErrorCode, msg string) {
	t.ctl = proto.AppendError(t.ctl[:0], code, msg)
	t.send(t.ctl, t.Peer)
	t.Stats.ErrorCode = code
	t.Stats.ErrorMessage = msg
}

// fail ends the session with an error sent to the peer.
func (t *Transfer) fail(err error) error {
	code, msg := tftp.WireError(err)
	t.sendError(code, msg)
	t.Stats.Outcome = stats.OutcomeForCode(code)
	return err
}

// Answers to strangers (ERROR 5): a burst of strangerBurst, then one per
// strangerEvery, per session.
const (
	strangerBurst = 3
	strangerEvery = time.Second
)

// stranger handles a packet from another address or port than the
// session's peer; the transfer goes on undisturbed. RFC 1350 §4 says an
// ERROR 5 "should be sent to the source of the incorrect packet". Every
// such answer would make each session socket a small reflector (a spoofed
// packet of 4 bytes gets 24 back), and in.tftpd, whose socket is
// connected, never sees strangers at all. So only a stranger that looks
// like a confused client, one sending a DATA or ACK of the right size,
// gets ERROR 5, and only strangerBurst of them, then one per
// strangerEvery; anything else is dropped in silence.
func (t *Transfer) stranger(from netip.AddrPort, pkt []byte) {
	op, _ := proto.PeekOpcode(pkt)
	switch {
	case op == proto.OpACK && len(pkt) == proto.HeaderLen:
	case op == proto.OpDATA && len(pkt) >= proto.HeaderLen && len(pkt) <= proto.HeaderLen+proto.MaxBlksize:
	default:
		return
	}
	// A token bucket kept as a time: an answer is allowed when errorAt
	// is a strangerEvery in the past, and moves it a strangerEvery on.
	now := t.clock.Now()
	if full := now.Add(-strangerBurst * strangerEvery); t.errorAt.Before(full) {
		t.errorAt = full
	}
	if t.errorAt.Add(strangerEvery).After(now) {
		return // over the budget: dropped
	}
	t.errorAt = t.errorAt.Add(strangerEvery)
	t.ctl = proto.AppendError(t.ctl[:0], proto.ErrUnknownTID, proto.ErrUnknownTID.String())
	t.send(t.ctl, from)
}

type readResult int

const (
	readPacket readResult = iota
	readTimeout
	readAbort // context ended (ErrShutdown) or the socket failed; see abort
)

// read waits for one packet from the peer until deadline. Packets from
// strangers are answered and skipped without moving the deadline.
func (t *Transfer) read(ctx context.Context, deadline time.Time) ([]byte, readResult, error) {
	for {
		if ctx.Err() != nil {
			return nil, readAbort, ErrShutdown
		}
		n, from, err := t.Conn.ReadPacket(t.rbuf, deadline)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, readTimeout, nil
			}
			if ctx.Err() != nil {
				return nil, readAbort, ErrShutdown
			}
			t.Stats.Outcome = stats.OutcomeServerError
			return nil, readAbort, fmt.Errorf("read: %w", err)
		}
		if from != t.Peer {
			t.stranger(from, t.rbuf[:n])
			continue
		}
		t.Stats.PacketsReceived++
		pkt := t.rbuf[:n]
		if t.Config.Trace != nil {
			t.Config.Trace("recv", pkt, from)
		}
		return pkt, readPacket, nil
	}
}

// abort ends the session after read reported readAbort: on shutdown the
// client is told so.
func (t *Transfer) abort(ctx context.Context, err error) error {
	if errors.Is(err, ErrShutdown) {
		return Stopped(ctx, t.Stats, t.sendError)
	}
	return err
}

// Stopped records why ctx ended a session and tells the peer with send: a
// passed deadline is outcome "timeout", anything else "shutdown".
func Stopped(ctx context.Context, st *stats.SessionStats, send func(proto.ErrorCode, string)) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		send(proto.ErrUndefined, "session time limit exceeded")
		st.Outcome = stats.OutcomeTimeout
		return ErrTimeout
	}
	send(proto.ErrUndefined, "server shutting down")
	st.Outcome = stats.OutcomeShutdown
	return ErrShutdown
}

// clientError records an ERROR received from the peer. The session ends at
// once and nothing is sent back (RFC 1350 §7: errors are not acknowledged).
func (t *Transfer) clientError(pkt []byte, probe bool) error {
	e, _ := proto.ParseError(pkt)
	t.Stats.ErrorCode = e.Code
	t.Stats.ErrorMessage = e.Message
	if probe && e.Code == proto.ErrOptionRefused {
		// The UEFI size probe: RRQ with tsize, OACK, ERROR 8, then a new
		// RRQ. Not a failure.
		t.Stats.Outcome = stats.OutcomeProbe
		return nil
	}
	t.Stats.Outcome = stats.OutcomeClientError
	return &tftp.Error{Code: e.Code, Message: e.Message, Remote: true}
}

func (t *Transfer) finish() {
	t.Stats.Duration = t.clock.Now().Sub(t.Stats.Start)
	t.Stats.RTT = t.rto.smoothed()
}
