package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Start starts the child and waits until it serves ('R'). On any failure
// (the start, its exit, its silence past the timeout, a broken message,
// ctx ending) the child is killed and reaped, and the error says why.
func Start(ctx context.Context, cfg Config) (*Child, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Track == nil {
		cfg.Track = func(start func() int) { start() }
	}
	if cfg.Untrack == nil {
		cfg.Untrack = func(int) {}
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("upgrade: socketpair: %w", err)
	}
	toClose := []int{pair[1]} // the child's copies: closed once it has them
	defer func() {
		for _, fd := range toClose {
			unix.Close(fd)
		}
	}()
	conn, err := unixConn(pair[0])
	if err != nil {
		return nil, err
	}
	sp := &spec{parent: os.Getpid(), ctl: ctlFD, files: map[string][]int{}}
	fds := []uintptr{0, 1, 2, uintptr(pair[1])}
	for _, f := range cfg.Files {
		if !validName(f.Name) || f.Name == "ctl" || f.Name == "parent" {
			conn.Close()
			return nil, fmt.Errorf("upgrade: bad file name %q", f.Name)
		}
		dup, err := dupConn(f.Conn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("upgrade: %s: %w", f.Name, err)
		}
		toClose = append(toClose, dup)
		if _, ok := sp.files[f.Name]; !ok {
			sp.order = append(sp.order, f.Name)
		}
		sp.files[f.Name] = append(sp.files[f.Name], len(fds))
		fds = append(fds, uintptr(dup))
	}
	env := slices.DeleteFunc(slices.Clone(cfg.Env), func(kv string) bool { return strings.HasPrefix(kv, EnvHandover+"=") })
	env = append(env, EnvHandover+"="+sp.format())
	attr := &syscall.ProcAttr{Dir: cfg.Dir, Env: env, Files: fds}
	var pid int
	cfg.Track(func() int {
		// Not os.StartProcess: it would call Fd on the files, which makes
		// the shared sockets blocking.
		pid, _, err = syscall.StartProcess(cfg.Path, cfg.Args, attr)
		if err != nil {
			return 0
		}
		return pid
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("upgrade: starting %s: %w", cfg.Path, err)
	}
	c := &Child{Pid: pid, conn: conn, exited: make(chan struct{})}
	proc, err := os.FindProcess(pid)
	if err != nil { // cannot happen on Linux: the pid is our child's
		syscall.Kill(pid, syscall.SIGKILL)
		conn.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	go func() { // owned by the child's life: ends when it is reaped
		st, err := proc.Wait()
		if err != nil {
			c.status = err.Error()
		} else {
			c.status = st.String()
		}
		cfg.Untrack(pid)
		close(c.exited)
	}()
	for _, fd := range toClose {
		unix.Close(fd)
	}
	toClose = nil

	type ready struct {
		version string
		err     error
	}
	readyc := make(chan ready, 1)
	go func() { // ends with the channel: a message, or the close below
		typ, p, err := readMsg(conn, maxVersion)
		switch {
		case err == nil && typ == msgReady && validVersion(p):
			readyc <- ready{version: string(p)}
		case err == nil:
			readyc <- ready{err: fmt.Errorf("%w: %q instead of ready", errBadMessage, typ)}
		case errors.Is(err, io.EOF):
			readyc <- ready{err: errors.New("it closed the control channel before it was ready")}
		default:
			readyc <- ready{err: err}
		}
	}()
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	// fail kills the child; read says whether readyc is still to be
	// received from (its reader then ends with the closed channel).
	fail := func(err error, read bool) (*Child, error) {
		proc.Signal(syscall.SIGKILL)
		conn.Close()
		<-c.exited
		if read {
			<-readyc
		}
		return nil, fmt.Errorf("new process %d (%s): %w", pid, c.status, err)
	}
	select {
	case r := <-readyc:
		if r.err != nil {
			return fail(r.err, false)
		}
		select {
		case <-c.exited: // said ready, then died
			return fail(errors.New("exited after it said it was ready"), false)
		default:
		}
		c.Version = r.version
		return c, nil
	case <-c.exited:
		conn.Close() // a process it left may hold its end
		<-readyc
		return nil, fmt.Errorf("new process %d exited before it was ready: %s", pid, c.status)
	case <-timer.C:
		return fail(fmt.Errorf("not ready after %v: killed", cfg.Timeout), true)
	case <-ctx.Done():
		return fail(fmt.Errorf("upgrade canceled: %w", ctx.Err()), true)
	}
}
