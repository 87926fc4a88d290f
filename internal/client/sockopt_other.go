//go:build !linux

package client

import "net"

// setRecvBuffer enlarges the socket's receive buffer so a whole window
// fits; the system may cap the request. Failures are ignored.
func setRecvBuffer(c *net.UDPConn, n int) {
	_ = c.SetReadBuffer(min(n, 64<<20))
}
