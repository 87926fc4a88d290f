package ipc

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxRecvFDs is how many descriptors RecvHandoff makes room for. A Handoff
// carries one; room for a few more lets us see (and close) extra ones rather
// than only learn from MSG_CTRUNC that some were dropped.
const maxRecvFDs = 4

// Socketpair creates a connected AF_UNIX SOCK_SEQPACKET pair for one worker.
// Both descriptors are close-on-exec, so that no other child inherits them.
// The master keeps the returned Conn; worker is the worker's end, to be
// passed as exec.Cmd.ExtraFiles[0] (which becomes WorkerFD in the child,
// with close-on-exec cleared there by os/exec). The caller owns worker and
// must close it once cmd.Start has returned.
func Socketpair() (master *Conn, worker *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	// Only the master's end is non-blocking (the two ends are separate open
	// file descriptions); the worker's end stays an ordinary File for exec.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	// The Conn owns fds[0] (newConn closes it on failure); worker owns fds[1].
	worker = os.NewFile(uintptr(fds[1]), "fbtftp-ipc-worker")
	master, err = newConn(os.NewFile(uintptr(fds[0]), "fbtftp-ipc-master"))
	if err != nil {
		worker.Close()
		return nil, nil, err
	}
	return master, worker, nil
}

// FromFD returns the worker's Conn on descriptor fd, normally WorkerFD. It
// first checks that fd is an AF_UNIX SOCK_SEQPACKET socket; if not (the
// worker was run by hand, say) it returns an error wrapping
// ErrNotStartedByMaster and leaves fd alone. Otherwise the Conn takes
// ownership of fd, makes it close-on-exec and non-blocking, and closes it on
// Close (or if FromFD fails later).
func FromFD(fd int) (*Conn, error) {
	if err := checkSeqpacket(fd); err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return newConn(os.NewFile(uintptr(fd), "fbtftp-ipc"))
}

// checkSeqpacket reports, as ErrNotStartedByMaster, a descriptor that is not
// open, not a socket, or not an AF_UNIX SOCK_SEQPACKET socket.
func checkSeqpacket(fd int) error {
	if fd < 0 {
		return fmt.Errorf("%w: invalid descriptor %d", ErrNotStartedByMaster, fd)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return fmt.Errorf("%w: descriptor %d: %v", ErrNotStartedByMaster, fd, err)
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return fmt.Errorf("%w: descriptor %d: %v", ErrNotStartedByMaster, fd, err)
	}
	if dom != unix.AF_UNIX || typ != unix.SOCK_SEQPACKET {
		return fmt.Errorf("%w: descriptor %d is not a unix SOCK_SEQPACKET socket", ErrNotStartedByMaster, fd)
	}
	return nil
}

// send sends b as one message, with descriptor fd attached if fd >= 0. It
// waits in the netpoller while the peer's queue is full.
func (c *Conn) send(b []byte, fd int) error {
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	var opErr error
	err := c.rc.Write(func(sfd uintptr) bool {
		for {
			// MSG_NOSIGNAL: a vanished peer is EPIPE, never SIGPIPE.
			_, opErr = unix.SendmsgN(int(sfd), b, oob, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if opErr != unix.EINTR {
				return opErr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	if opErr != nil {
		return os.NewSyscallError("sendmsg", opErr)
	}
	return nil
}

// trySend sends b as one message if the peer's queue has room, without
// waiting: ErrWouldBlock when it has none.
func (c *Conn) trySend(b []byte) error {
	var opErr error
	if err := c.rc.Control(func(fd uintptr) {
		for {
			_, opErr = unix.SendmsgN(int(fd), b, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
			if opErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return c.wrapErr("send", err)
	}
	switch opErr {
	case nil:
		return nil
	case unix.EAGAIN:
		return ErrWouldBlock
	}
	return c.wrapErr("send", os.NewSyscallError("sendmsg", opErr))
}

// recvMsg waits for one message and reads it into a buffer of its exact
// size. With wantFDs it makes room for attached descriptors (received
// close-on-exec) and returns them; the caller owns them. Without, any
// attached descriptor is discarded by the kernel and reported as an error.
// A peer that closed (or reset) the connection yields io.EOF.
func (c *Conn) recvMsg(wantFDs bool) ([]byte, []int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var (
		oob                []byte
		buf                []byte
		size, n, oobn, flg int
		opErr              error
	)
	if wantFDs {
		oob = make([]byte, unix.CmsgSpace(maxRecvFDs*4))
	}
	err := c.rc.Read(func(fd uintptr) bool {
		// Peek at the length of the next message without taking it (and
		// with no control buffer, so no descriptor is installed): until a
		// message arrives, nothing is allocated. MSG_TRUNC makes recvmsg
		// return the full length (Linux >= 3.4 for unix sockets).
		var one [1]byte
		size, _, _, opErr = recvmsg(int(fd), one[:], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		switch {
		case opErr == unix.EAGAIN:
			return false
		case opErr != nil:
			return true
		case size == 0:
			// EOF, or an empty message, which the protocol never sends:
			// take it off the queue and report EOF either way.
			_, _, _, opErr = recvmsg(int(fd), one[:], nil, 0)
			if opErr == nil || opErr == unix.EAGAIN {
				opErr = io.EOF
			}
			return true
		case size > MaxMessageSize:
			buf = one[:] // read a prefix: the kernel drops the rest
		default:
			buf = make([]byte, size)
		}
		n, oobn, flg, opErr = recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return opErr != unix.EAGAIN
	})
	if err != nil {
		return nil, nil, err
	}
	if opErr == io.EOF || opErr == unix.ECONNRESET {
		// ECONNRESET: the peer closed with our message unread in its queue.
		return nil, nil, io.EOF
	}
	if opErr != nil {
		return nil, nil, os.NewSyscallError("recvmsg", opErr)
	}
	fds, perr := parseRights(oob[:oobn])
	switch {
	case perr != nil:
		err = fmt.Errorf("%w: bad control message: %v", ErrMalformed, perr)
	case flg&unix.MSG_CTRUNC != 0 && !wantFDs:
		err = fmt.Errorf("%w: unexpected file descriptors", ErrMalformed)
	case flg&unix.MSG_CTRUNC != 0:
		err = fmt.Errorf("%w: too many file descriptors", ErrMalformed)
	case size > MaxMessageSize || flg&unix.MSG_TRUNC != 0:
		err = fmt.Errorf("%w: %d bytes, at most %d allowed", ErrMalformed, size, MaxMessageSize)
	case n != size:
		err = fmt.Errorf("%w: read %d bytes of %d", ErrMalformed, n, size)
	}
	if err != nil {
		closeFDs(fds)
		return nil, nil, err
	}
	return buf, fds, nil
}

// pending reports whether a message is queued (io.EOF if the peer is
// gone), without taking it or waiting: a non-blocking MSG_PEEK with no control buffer, so nothing is
// installed or consumed.
func (c *Conn) pending() (bool, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var (
		size  int
		opErr error
	)
	err := c.rc.Control(func(fd uintptr) {
		var one [1]byte
		size, _, _, opErr = recvmsg(int(fd), one[:], nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	})
	switch {
	case err != nil:
		return false, err
	case opErr == unix.EAGAIN:
		return false, nil
	case opErr == unix.ECONNRESET, opErr == nil && size == 0:
		return false, io.EOF // as recvMsg: an empty message is never sent
	case opErr != nil:
		return false, os.NewSyscallError("recvmsg", opErr)
	}
	return true, nil
}

// recvmsg is unix.Recvmsg, non-blocking, retried on EINTR.
func recvmsg(fd int, p, oob []byte, flags int) (n, oobn, rflags int, err error) {
	for {
		n, oobn, rflags, _, err = unix.Recvmsg(fd, p, oob, flags|unix.MSG_DONTWAIT)
		if err != unix.EINTR {
			return n, oobn, rflags, err
		}
	}
}

// parseRights returns the descriptors carried by SCM_RIGHTS control
// messages. On error it still returns those it found, for closing.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		h := msgs[i].Header
		if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_RIGHTS {
			continue
		}
		rights, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, err
		}
		fds = append(fds, rights...)
	}
	return fds, nil
}

// closeFDs closes descriptors received but not handed to a caller.
func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
