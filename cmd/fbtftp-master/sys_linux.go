package main

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// closeInheritedOnExec marks every descriptor above standard error as
// close-on-exec. Descriptors this process opens are already; this catches
// the ones it inherited (systemd's sockets, the daemon readiness pipe,
// whatever a careless parent left open), so none can leak into a worker,
// whose fd 3 must be its socketpair and nothing else.
func closeInheritedOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// isDatagramSocket reports whether fd is a datagram socket (a UDP socket
// from inetd or systemd).
func isDatagramSocket(fd int) bool {
	t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && t == unix.SOCK_DGRAM
}

// redirectFD makes fd refer to what f refers to (dup2).
func redirectFD(f *os.File, fd int) error {
	return os.NewSyscallError("dup3", unix.Dup3(int(f.Fd()), fd, 0))
}

// currentUmask returns the process umask without changing it.
func currentUmask() uint32 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint32(m) & 0o777
}

// detachedAttr starts a process in a new session, away from the terminal.
func detachedAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
