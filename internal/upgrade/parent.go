package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTimeout is how long Start waits for the child's 'R' by default.
const DefaultTimeout = 30 * time.Second

// writeTimeout bounds a control message to a child that does not read.
const writeTimeout = 5 * time.Second

// File is a socket to hand over: the child finds it under Name.
type File struct {
	Name string
	Conn syscall.Conn // *net.UDPConn, *net.TCPListener, ...
}

// Config says what to start and what to hand over.
type Config struct {
	Path string   // the binary (Program.Self)
	Args []string // argv, argv[0] included
	Env  []string // EnvHandover is added (and any previous one dropped)
	Dir  string   // the working directory; "" keeps this process's
	// Files are handed over as descriptors 4, 5, ... in this order;
	// several may share a Name.
	Files []File
	// Timeout bounds the wait for 'R'; 0 means DefaultTimeout.
	Timeout time.Duration
	// Track, when set, runs the start of the child (a function returning
	// its pid, 0 on failure) and Untrack is called once the child is
	// reaped: a process with an orphan reaper must not take the child for
	// an orphan (master.StartChild, master.ChildDone).
	Track   func(start func() int)
	Untrack func(pid int)
}

// Child is a started child that said it serves.
type Child struct {
	Pid     int
	Version string // what the child reported

	conn   *net.UnixConn
	wmu    sync.Mutex
	exited chan struct{} // closed once reaped
	status string        // how it ended, valid after exited
}

// Exited is closed once the child has exited and been reaped.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// Commit tells the child the parent has stopped accepting, with its state.
func (c *Child) Commit(state []byte) error { return c.send(msgCommit, state) }

// Send gives the child a newer state.
func (c *Child) Send(state []byte) error { return c.send(msgState, state) }

func (c *Child) send(typ byte, p []byte) error {
	if len(p) > MaxPayload {
		return fmt.Errorf("upgrade: state of %d bytes, more than %d", len(p), MaxPayload)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.conn.Write(appendMsg(nil, typ, p))
	return err
}

// Close closes the control channel: the child sees its parent gone.
func (c *Child) Close() error { return c.conn.Close() }

// validVersion accepts a printable version string.
func validVersion(p []byte) bool {
	return !bytes.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// unixConn wraps a socket descriptor (taken over) in a *net.UnixConn.
func unixConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "upgrade control")
	c, err := net.FileConn(f) // a duplicate
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade: control channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("upgrade: control channel is not a unix socket")
	}
	return uc, nil
}

// dupConn duplicates a socket's descriptor (close-on-exec) without
// touching the socket's blocking mode, which its owner relies on.
func dupConn(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", derr)
	}
	return dup, nil
}
