package upgrade

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Pending reports whether this process was started by Start and has not
// taken its handover yet.
func Pending() bool {
	_, ok := os.LookupEnv(EnvHandover)
	return ok
}

// Handover is what a child got from its parent: the sockets, and the
// control channel.
type Handover struct {
	Parent int // the parent's pid

	conn  *net.UnixConn
	files map[string][]*os.File

	committed chan struct{} // closed on 'C'
	gone      chan struct{} // closed when the channel ends (the parent exited)
	readDone  chan struct{}
	reading   bool // Ready started read

	mu      sync.Mutex
	onState func([]byte)
	err     error // why the channel ended, when not a clean end of file
}

// Inherit takes the handover of a process started by Start: it removes
// EnvHandover from the environment, checks each descriptor it names,
// marks them close-on-exec and wraps them. It returns nil, nil when the
// process was not started by Start. On error the descriptors it named
// are closed.
func Inherit() (*Handover, error) {
	v, ok := os.LookupEnv(EnvHandover)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvHandover)
	sp, err := parseSpec(v)
	if err != nil {
		return nil, err
	}
	all := []int{sp.ctl}
	for _, name := range sp.order {
		all = append(all, sp.files[name]...)
	}
	for _, fd := range all {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			closeFDs(all)
			return nil, fmt.Errorf("%s: descriptor %d: %w", EnvHandover, fd, err)
		}
		unix.CloseOnExec(fd)
	}
	conn, err := unixConn(sp.ctl)
	if err != nil {
		closeFDs(all[1:])
		return nil, err
	}
	h := &Handover{
		Parent: sp.parent, conn: conn, files: map[string][]*os.File{},
		committed: make(chan struct{}), gone: make(chan struct{}), readDone: make(chan struct{}),
	}
	for _, name := range sp.order {
		for _, fd := range sp.files[name] {
			h.files[name] = append(h.files[name], os.NewFile(uintptr(fd), name+" (fd "+strconv.Itoa(fd)+")"))
		}
	}
	return h, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Take returns the files handed over under name and gives them to the
// caller, who closes them.
func (h *Handover) Take(name string) []*os.File {
	fs := h.files[name]
	delete(h.files, name)
	return fs
}

// Ready tells the parent that this process serves, with its version, and
// starts reading the parent's messages: onState gets the state of each
// 'C' and 'S' (from one goroutine, in order; it must not block long).
// Files not taken by then are closed.
func (h *Handover) Ready(version string, onState func([]byte)) error {
	for name, fs := range h.files {
		for _, f := range fs {
			f.Close()
		}
		delete(h.files, name)
	}
	if len(version) > maxVersion || !validVersion([]byte(version)) {
		version = "unknown"
	}
	h.onState = onState
	if _, err := h.conn.Write(appendMsg(nil, msgReady, []byte(version))); err != nil {
		h.end(err)
		return fmt.Errorf("upgrade: telling the parent: %w", err)
	}
	h.reading = true
	go h.read() // ends with the channel; Close waits for it
	return nil
}

// read handles the parent's messages until the channel ends.
func (h *Handover) read() {
	defer close(h.readDone)
	for {
		typ, p, err := readMsg(h.conn, MaxPayload)
		if err == nil && typ != msgCommit && typ != msgState {
			err = fmt.Errorf("%w: %q", errBadMessage, typ)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			h.end(err)
			return
		}
		if h.onState != nil {
			h.onState(p)
		}
		if typ == msgCommit {
			select {
			case <-h.committed:
			default:
				close(h.committed)
			}
		}
	}
}

func (h *Handover) end(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	h.conn.Close()
	close(h.gone)
}

// Committed is closed once the parent has stopped accepting.
func (h *Handover) Committed() <-chan struct{} { return h.committed }

// ParentGone is closed once the control channel has ended: the parent
// exited (or broke the protocol: Err).
func (h *Handover) ParentGone() <-chan struct{} { return h.gone }

// Err is why the channel ended, nil for the parent's exit.
func (h *Handover) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Close closes the control channel and what was not taken, and waits for
// the reader started by Ready.
func (h *Handover) Close() {
	for name, fs := range h.files {
		for _, f := range fs {
			f.Close()
		}
		delete(h.files, name)
	}
	h.conn.Close()
	if h.reading {
		<-h.readDone
	}
}
