package main

import (
	"net/netip"
	"os"
	"strconv"

	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// mode is how the master gets its listening sockets.
type mode int

const (
	modeStandalone mode = iota // -l/-L: bind -a addresses
	modeInetd                  // the socket is standard input (inetd, xinetd, systemd StandardInput=socket)
	modeSystemd                // sockets passed as fds 3.. (LISTEN_FDS)
)

func (m mode) String() string {
	switch m {
	case modeStandalone:
		return "standalone"
	case modeInetd:
		return "inetd"
	case modeSystemd:
		return "systemd"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// systemd's socket-passing protocol (sd_listen_fds(3)).
const (
	listenFDsStart = 3
	envListenPID   = "LISTEN_PID"
	envListenFDs   = "LISTEN_FDS"
	envListenNames = "LISTEN_FDNAMES"
)

// listenFDs returns the number of sockets systemd passed to this process,
// 0 if none (or if they were meant for another process), and removes the
// variables from the environment so that no worker sees them.
func listenFDs() int {
	pid, fds := os.Getenv(envListenPID), os.Getenv(envListenFDs)
	os.Unsetenv(envListenPID)
	os.Unsetenv(envListenFDs)
	os.Unsetenv(envListenNames)
	if p, err := strconv.Atoi(pid); err != nil || p != os.Getpid() {
		return 0
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 || n > 1024 {
		return 0
	}
	return n
}

// chooseMode decides where the sockets come from. -l/-L: standalone.
// --systemd: systemd's sockets, which must be there. Otherwise a socket on
// standard input means inetd mode, which also covers systemd units with
// StandardInput=socket (Fedora's tftp.service: systemd sets LISTEN_FDS too,
// but the unit asks for in.tftpd's inetd behaviour, idle exit included);
// failing that, sockets passed by systemd; failing that, inetd mode, which
// then reports that standard input is no socket, as in.tftpd does.
func chooseMode(o *options, nfds int) (mode, error) {
	switch {
	case o.standalone():
		return modeStandalone, nil
	case o.systemd && nfds == 0:
		return 0, exitf(exUsage, "--systemd: no sockets passed (LISTEN_PID/LISTEN_FDS not set for this process)")
	case o.systemd:
		return modeSystemd, nil
	case isDatagramSocket(0):
		return modeInetd, nil
	case nfds > 0:
		return modeSystemd, nil
	}
	return modeInetd, nil
}

// passedSockets returns systemd's n sockets starting at descriptor first,
// for the server to take over, once checked: each is a UDP socket, and
// each -a address is one of theirs (checkPassedAddresses).
func passedSockets(o *options, first, n int) ([]*os.File, error) {
	ls, err := inheritedListeners(first, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(ls) // the files are duplicates
	if err := checkPassedAddresses(o, ls); err != nil {
		return nil, err
	}
	var files []*os.File
	for _, l := range ls {
		f, err := l.File()
		if err != nil {
			closeFiles(files)
			return nil, exitf(exIOErr, "%v", err)
		}
		files = append(files, f)
	}
	return files, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// inheritedListeners wraps n sockets starting at descriptor first. The
// listeners hold duplicates (close-on-exec); the inherited descriptors are
// closed, so no worker can inherit a listening socket.
func inheritedListeners(first, n int) ([]*udp.Listener, error) {
	var ls []*udp.Listener
	for fd := first; fd < first+n; fd++ {
		f := os.NewFile(uintptr(fd), "fd "+strconv.Itoa(fd))
		if f == nil {
			closeAll(ls)
			return nil, exitf(exIOErr, "fd %d: not open", fd)
		}
		l, err := udp.FromFile(f)
		f.Close()
		if err != nil {
			closeAll(ls)
			return nil, exitf(exIOErr, "fd %d: not a UDP socket: %v", fd, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []*udp.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// listenAddrs formats the listeners' addresses for logs.
func listenAddrs(ls []*udp.Listener) []netip.AddrPort {
	out := make([]netip.AddrPort, len(ls))
	for i, l := range ls {
		out[i] = l.LocalAddr()
	}
	return out
}

// checkPassedAddresses is for systemd mode, where the socket unit binds the
// addresses: each -a address (the packaged service passes TFTP_ADDRESS)
// must be one of the passed sockets', so that a configuration restricted
// to one address never silently serves every address. A wildcard address
// (":69", "0.0.0.0:69", "[::]:69") matches a wildcard socket of its port.
func checkPassedAddresses(o *options, ls []*udp.Listener) error {
	for _, a := range o.addresses {
		spec, err := udp.ParseListenAddress(a, o.port)
		if err != nil {
			return exitf(exNoInput, "address %q: %v", a, err)
		}
		if !passedMatch(spec, ls) {
			return exitf(exConfig, "--address %s is not an address of the sockets systemd passed (%v): set it in the socket unit (ListenDatagram=) or leave -a out", a, listenAddrs(ls))
		}
	}
	return nil
}

func passedMatch(spec udp.ListenSpec, ls []*udp.Listener) bool {
	wildcard := spec.IsWildcard()
	for _, ip := range spec.Addrs {
		wildcard = wildcard || ip.IsUnspecified()
	}
	for _, l := range ls {
		la := l.LocalAddr()
		if spec.Port != 0 && la.Port() != spec.Port {
			continue
		}
		if wildcard && la.Addr().IsUnspecified() {
			return true
		}
		for _, ip := range spec.Addrs {
			if ip == la.Addr().Unmap() {
				return true
			}
		}
	}
	return false
}
