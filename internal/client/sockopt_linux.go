package client

import (
	"net"
	"syscall"
)

// setRecvBuffer enlarges the socket's receive buffer so a whole window
// fits. As root it uses SO_RCVBUFFORCE to pass net.core.rmem_max; otherwise
// the kernel caps the request. Failures are ignored: it is an optimisation.
func setRecvBuffer(c *net.UDPConn, n int) {
	n = min(n, 64<<20)
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var serr error
	_ = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
	})
	if serr != nil {
		_ = c.SetReadBuffer(n)
	}
}
