//go:build !linux

package udp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// aLongTimeAgo is a deadline in the past, used to unblock reads.
var aLongTimeAgo = time.Unix(1, 0)

// SessionConn is the packet conn of one transfer, over a session socket
// made by NewSessionSocket. ReadPacket must be called from one goroutine
// at a time; WritePacket, WriteBatch, Interrupt, LocalAddr and Close are
// safe from any goroutine. ReadPacket and WritePacket do not allocate.
// Outside Linux it reads through Go's netpoller.
type SessionConn struct {
	conn        *net.UDPConn
	local       netip.AddrPort
	interrupted atomic.Bool
}

// NewSessionConn wraps a UDP socket in a SessionConn. It duplicates the
// descriptor (into non-blocking mode, on Go's netpoller): f stays owned by
// the caller, who should close it once NewSessionConn returns; Close
// closes only the SessionConn's own descriptor.
func NewSessionConn(f *os.File) (*SessionConn, error) {
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("session conn from %s: %w", f.Name(), err)
	}
	c, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("session conn from %s: not a UDP socket", f.Name())
	}
	var local netip.AddrPort
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		local = unmapAddrPort(ua.AddrPort())
	}
	return &SessionConn{conn: c, local: local}, nil
}

// ReadPacket reads one datagram into b, waiting until deadline (the zero
// time means no deadline). It returns the length and the sender, unmapped.
// When the deadline passes the error satisfies
// errors.Is(err, os.ErrDeadlineExceeded); after Interrupt it is
// ErrInterrupted. If the datagram was longer than b it returns
// n == len(b), the sender and ErrTruncated.
func (c *SessionConn) ReadPacket(b []byte, deadline time.Time) (int, netip.AddrPort, error) {
	// Set the deadline before checking the flag, and Interrupt sets the
	// flag before its past deadline: either we see the flag, or its past
	// deadline overrides ours and the read below fails at once.
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return 0, netip.AddrPort{}, err
	}
	if c.interrupted.Load() {
		return 0, netip.AddrPort{}, ErrInterrupted
	}
	n, _, flags, from, err := c.conn.ReadMsgUDPAddrPort(b, nil)
	if err != nil {
		if c.interrupted.Load() {
			return 0, netip.AddrPort{}, ErrInterrupted
		}
		return 0, netip.AddrPort{}, err
	}
	from = unmapAddrPort(from)
	if flags&msgTrunc != 0 {
		return n, from, ErrTruncated
	}
	return n, from, nil
}

// WritePacket sends b to the address to.
func (c *SessionConn) WritePacket(b []byte, to netip.AddrPort) error {
	_, err := c.conn.WriteToUDPAddrPort(b, unmapAddrPort(to))
	return err
}

// WriteBatch sends the datagrams laid out back to back in buf, each seg
// bytes long but the last, which may be shorter, to the address to: one
// WritePacket each outside Linux.
func (c *SessionConn) WriteBatch(buf []byte, seg int, to netip.AddrPort) error {
	if seg <= 0 {
		return fmt.Errorf("write batch: segment size %d", seg)
	}
	for len(buf) > 0 {
		n := min(seg, len(buf))
		if err := c.WritePacket(buf[:n], to); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// LocalAddr returns the address the socket is bound to, unmapped.
func (c *SessionConn) LocalAddr() netip.AddrPort { return c.local }

// Interrupt makes a blocked ReadPacket, and every later one, return
// ErrInterrupted promptly (for shutdown or a cancelled context).
// WritePacket keeps working, so a final ERROR can still be sent. It is safe
// to call from any goroutine, more than once.
func (c *SessionConn) Interrupt() {
	c.interrupted.Store(true)
	_ = c.conn.SetReadDeadline(aLongTimeAgo)
}

// Close closes the socket; a blocked ReadPacket returns an error
// satisfying errors.Is(err, net.ErrClosed).
func (c *SessionConn) Close() error { return c.conn.Close() }
