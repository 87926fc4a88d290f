package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// maxKeptBuf is the largest encode buffer a Conn keeps between sends; a
// larger one (a Handoff with huge settings) is left to the garbage collector.
const maxKeptBuf = 8 << 10

// Conn is one end of the master<->worker socketpair. It is safe for
// concurrent use: sends are serialized with each other and receives with
// each other, and a send may run concurrently with a receive.
//
// Receives wait in the Go netpoller and hold no buffer while waiting: a
// message is read only once it has arrived, into a buffer of exactly its
// size. A master can thus keep thousands of Conns, each with a goroutine
// blocked in RecvStats, at the cost of a parked goroutine each.
//
// A receive on a Conn whose peer has closed its end (or exited) returns
// io.EOF. A receive is interrupted by a read deadline (SetReadDeadline) or
// by Close; it then returns an error satisfying
// errors.Is(err, os.ErrDeadlineExceeded) or errors.Is(err, net.ErrClosed).
type Conn struct {
	// f owns the socket descriptor: it is non-blocking, close-on-exec and
	// registered with the netpoller; Close closes it. Nothing calls f.Fd().
	f      *os.File
	rc     syscall.RawConn // f's raw access, for sendmsg and recvmsg
	closed atomic.Bool

	rmu sync.Mutex // serializes receives: peek and read must pair up

	wmu  sync.Mutex // serializes sends and guards wbuf
	wbuf []byte     // reused encode buffer
}

// newConn wraps f, a non-blocking SOCK_SEQPACKET socket; the Conn takes
// ownership of f. It fails (closing f) if f is not pollable.
func newConn(f *os.File) (*Conn, error) {
	// SetReadDeadline fails on a File the netpoller does not manage,
	// on which a blocked receive would park a thread, not a goroutine.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: socket is not pollable: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: %w", err)
	}
	return &Conn{f: f, rc: rc}, nil
}

// Close closes the socket. It interrupts a blocked receive or send, which
// then returns an error satisfying errors.Is(err, net.ErrClosed). The peer
// sees io.EOF. Close may be called more than once.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.f.Close()
}

// SetReadDeadline sets the deadline for receives, like
// net.Conn.SetReadDeadline: a receive blocked past t returns an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded). A deadline in the past
// interrupts a blocked receive at once; the zero time clears the deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for sends, like
// net.Conn.SetWriteDeadline. A send blocks only while the peer's receive
// queue is full.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SendHello sends a Hello with Version and the calling process's PID. A
// worker calls it once it is started and sandboxed, ready for a Handoff.
func (c *Conn) SendHello() error {
	return c.sendMsg(func(b []byte) ([]byte, error) {
		return AppendHello(b, Hello{Version: Version, PID: int32(os.Getpid())})
	}, nil)
}

// RecvHello receives a worker's Hello, waiting at most until deadline (no
// limit if deadline is zero). It replaces the read deadline and clears it on
// return. A Hello of another protocol version returns an error wrapping
// ErrVersionMismatch; the master must then discard the worker.
func (c *Conn) RecvHello(deadline time.Time) (Hello, error) {
	if err := c.f.SetReadDeadline(deadline); err != nil {
		return Hello{}, c.wrapErr("recv hello", err)
	}
	defer c.f.SetReadDeadline(time.Time{})
	b, fds, err := c.recvMsg(false)
	if err != nil {
		return Hello{}, c.wrapErr("recv hello", err)
	}
	closeFDs(fds)
	return DecodeHello(b)
}

// SendHandoff sends h with sock, the session socket, attached (SCM_RIGHTS).
// The caller keeps ownership of sock: the worker receives its own
// descriptor for the same socket, and the master closes its copy once
// SendHandoff returns, successfully or not. h is validated before anything
// is sent.
func (c *Conn) SendHandoff(h *Handoff, sock *os.File) error {
	if h == nil || sock == nil {
		return fmt.Errorf("%w: handoff: missing handoff or socket", ErrInvalid)
	}
	sc, err := sock.SyscallConn()
	if err != nil {
		return fmt.Errorf("ipc: send handoff: %w", err)
	}
	return c.sendMsg(func(b []byte) ([]byte, error) { return AppendHandoff(b, h) }, sc)
}

// RecvHandoff receives a Handoff and its session socket. The caller owns the
// returned file (close-on-exec, blocking mode) and must close it; to use it
// with the netpoller, pass it to net.FilePacketConn and close it after. A
// message carrying no descriptor or more than one is rejected (ErrMalformed)
// and every descriptor it carried is closed.
func (c *Conn) RecvHandoff() (*Handoff, *os.File, error) {
	b, fds, err := c.recvMsg(true)
	if err != nil {
		return nil, nil, c.wrapErr("recv handoff", err)
	}
	h, err := DecodeHandoff(b)
	if err == nil && len(fds) != 1 {
		err = fmt.Errorf("%w: handoff: carries %d file descriptors, want 1", ErrMalformed, len(fds))
	}
	if err != nil {
		closeFDs(fds)
		return nil, nil, err
	}
	// The returned File owns the received descriptor.
	return h, os.NewFile(uintptr(fds[0]), "fbtftp-session"), nil
}

// SendStats sends the session's stats; s is validated first. A worker calls
// it once, at the end of its session, before exiting.
func (c *Conn) SendStats(s *stats.SessionStats) error {
	if s == nil {
		return fmt.Errorf("%w: stats: missing stats", ErrInvalid)
	}
	return c.sendMsg(func(b []byte) ([]byte, error) { return AppendStats(b, s) }, nil)
}

// RecvStats receives a worker's Stats message. It treats the worker as
// untrusted: a malformed message or one carrying descriptors (which are
// never installed in the master) returns an error wrapping ErrMalformed.
func (c *Conn) RecvStats() (*stats.SessionStats, error) {
	b, _, err := c.recvMsg(false)
	if err != nil {
		return nil, c.wrapErr("recv stats", err)
	}
	return DecodeStats(b)
}

// Pending reports whether a message is waiting to be received, without
// receiving it and without waiting; it returns io.EOF if the peer has
// closed its end. The master asks
// before it sends a Handoff: a worker must say nothing between its Hello
// and the Handoff, so anything queued then is a protocol violation (Stats
// sent before the session started) and the worker must not be used.
func (c *Conn) Pending() (bool, error) {
	ok, err := c.pending()
	return ok, c.wrapErr("pending", err)
}

// sendMsg encodes a message into the reused buffer and sends it, with the
// descriptor of sock attached when sock is not nil.
func (c *Conn) sendMsg(enc func([]byte) ([]byte, error), sock syscall.RawConn) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := enc(c.wbuf[:0])
	if cap(b) <= maxKeptBuf {
		c.wbuf = b[:0]
	}
	if err != nil {
		return err
	}
	if sock == nil {
		err = c.send(b, -1)
	} else {
		// Control pins the descriptor for the duration of the send, without
		// the blocking-mode side effect of (*os.File).Fd.
		cerr := sock.Control(func(fd uintptr) { err = c.send(b, int(fd)) })
		if cerr != nil {
			err = cerr
		}
	}
	return c.wrapErr("send", err)
}

// wrapErr maps a receive or send error to the documented ones: io.EOF for
// a vanished peer, net.ErrClosed after Close. Other errors get context.
func (c *Conn) wrapErr(op string, err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return err
	case c.closed.Load():
		return fmt.Errorf("ipc: %s: %w", op, net.ErrClosed)
	}
	return fmt.Errorf("ipc: %s: %w", op, err)
}

// CloseWrite shuts down the sending side of the socket (shutdown(2),
// SHUT_WR): the peer's receives return io.EOF, as after Close, while this
// end can still receive. The master uses it to stop a worker's session
// (the worker sees EOF in WaitClosed and ends the session with ERROR 0)
// and still read the Stats that follow, so that workers need no signal
// handler (os/signal costs a worker two threads).
func (c *Conn) CloseWrite() error {
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		serr = syscall.Shutdown(int(fd), syscall.SHUT_WR)
	})
	if err == nil {
		err = serr
	}
	return c.wrapErr("shutdown", err)
}

// WaitClosed blocks until the peer closes its end (or the Conn fails or is
// closed), discarding any message that arrives meanwhile. A worker runs it
// after the Handoff: when it returns, the master is gone and the session
// must stop. It must not run concurrently with another receive.
func (c *Conn) WaitClosed() {
	for range 1024 {
		if _, _, err := c.recvMsg(false); err != nil && !errors.Is(err, ErrMalformed) {
			return
		}
	}
}
