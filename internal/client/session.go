package client

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// recvBufSize is the receive buffer of a Session: the largest UDP payload
// plus one byte, so an oversized datagram is seen as such.
const recvBufSize = proto.MaxPacketSize + 1

// Session is one client UDP socket talking to a TFTP server: the
// listener's address (where requests go) and whatever transfer IDs answer.
// Tests use it to script exact packet sequences. A Session is not safe for
// concurrent use, except Close.
type Session struct {
	conn   *net.UDPConn
	server netip.AddrPort
	local  netip.AddrPort
	buf    []byte // receive buffer; Recv's result aliases it
	out    []byte // send scratch buffer for the Send* helpers
	armed  time.Time
}

// NewSession opens a UDP socket for talking to server. local is the
// address to bind; its zero value picks port 0 on the loopback address of
// the server's family when the server is on loopback, else on the
// unspecified address of that family.
func NewSession(server netip.AddrPort, local netip.AddrPort) (*Session, error) {
	return newSession(server, local, recvBufSize)
}

func newSession(server, local netip.AddrPort, bufSize int) (*Session, error) {
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	if !server.IsValid() || server.Port() == 0 {
		return nil, fmt.Errorf("tftp: invalid server address %v", server)
	}
	network := "udp4"
	if server.Addr().Is6() {
		network = "udp6"
	}
	if !local.Addr().IsValid() {
		switch {
		case server.Addr().IsLoopback() && server.Addr().Is4():
			local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), local.Port())
		case server.Addr().IsLoopback():
			local = netip.AddrPortFrom(netip.IPv6Loopback(), local.Port())
		case server.Addr().Is4():
			local = netip.AddrPortFrom(netip.IPv4Unspecified(), local.Port())
		default:
			local = netip.AddrPortFrom(netip.IPv6Unspecified(), local.Port())
		}
	}
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if local.Addr().Is4() != server.Addr().Is4() {
		return nil, fmt.Errorf("tftp: local address %v and server %v are of different families", local, server)
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("tftp: bind: %w", err)
	}
	la := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return &Session{
		conn:   conn,
		server: server,
		local:  netip.AddrPortFrom(la.Addr().Unmap(), la.Port()),
		buf:    make([]byte, bufSize),
		out:    make([]byte, 0, 128),
	}, nil
}

// Server returns the listener address requests are sent to.
func (s *Session) Server() netip.AddrPort { return s.server }

// LocalAddr returns the bound address (the client's TID is its port).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Conn returns the underlying socket, for tests that need socket options.
func (s *Session) Conn() *net.UDPConn { return s.conn }

// Close closes the socket. It may be called from another goroutine to
// unblock Recv.
func (s *Session) Close() error { return s.conn.Close() }

// Send sends pkt to the server's listener address.
func (s *Session) Send(pkt []byte) error { return s.SendTo(pkt, s.server) }

// SendTo sends pkt to addr (a transfer ID, or any other address).
func (s *Session) SendTo(pkt []byte, addr netip.AddrPort) error {
	if _, err := s.conn.WriteToUDPAddrPort(pkt, addr); err != nil {
		return fmt.Errorf("tftp: send: %w", err)
	}
	return nil
}

// SendRequest sends an RRQ or WRQ to the listener. mode is sent as given,
// so tests can send odd modes ("mail", "NETASCII").
func (s *Session) SendRequest(op proto.Opcode, file, mode string, opts []proto.Option) error {
	s.out = proto.AppendRequest(s.out[:0], op, file, mode, opts)
	return s.Send(s.out)
}

// SendAck sends ACK block to addr.
func (s *Session) SendAck(addr netip.AddrPort, block uint16) error {
	s.out = proto.AppendAck(s.out[:0], block)
	return s.SendTo(s.out, addr)
}

// SendData sends DATA block with payload to addr.
func (s *Session) SendData(addr netip.AddrPort, block uint16, payload []byte) error {
	s.out = proto.AppendData(s.out[:0], block, payload)
	return s.SendTo(s.out, addr)
}

// SendError sends ERROR code with msg to addr.
func (s *Session) SendError(addr netip.AddrPort, code proto.ErrorCode, msg string) error {
	s.out = proto.AppendError(s.out[:0], code, msg)
	return s.SendTo(s.out, addr)
}

// Recv waits up to timeout (DefaultTimeout when <= 0) for one datagram and
// returns it with its source address (unmapped). The packet aliases the
// session's buffer and is valid until the next Recv. When nothing arrives
// in time the error wraps ErrTimeout.
func (s *Session) Recv(timeout time.Duration) ([]byte, netip.AddrPort, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := s.arm(time.Now().Add(timeout)); err != nil {
		return nil, netip.AddrPort{}, err
	}
	return s.read()
}

// arm sets the read deadline.
func (s *Session) arm(t time.Time) error {
	s.armed = t
	if err := s.conn.SetReadDeadline(t); err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	return nil
}

// read reads one datagram with the deadline currently armed.
func (s *Session) read() ([]byte, netip.AddrPort, error) {
	n, from, err := s.conn.ReadFromUDPAddrPort(s.buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, netip.AddrPort{}, fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		return nil, netip.AddrPort{}, fmt.Errorf("tftp: receive: %w", err)
	}
	return s.buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
}

// Packet is a received datagram, parsed. Slices alias the session's buffer
// and are valid until the next receive.
type Packet struct {
	From    netip.AddrPort
	Op      proto.Opcode
	Block   uint16            // DATA and ACK
	Payload []byte            // DATA
	Options []proto.Option    // OACK
	Error   proto.ErrorPacket // ERROR
	Raw     []byte            // the whole datagram
}

// RecvPacket is Recv followed by parsing. A datagram that does not parse
// is returned with an error wrapping proto.ErrMalformed and Raw and From set.
func (s *Session) RecvPacket(timeout time.Duration) (Packet, error) {
	b, from, err := s.Recv(timeout)
	if err != nil {
		return Packet{}, err
	}
	return ParsePacket(b, from)
}

// ParsePacket parses any packet a server may send (DATA, ACK, ERROR, OACK)
// or a request.
func ParsePacket(b []byte, from netip.AddrPort) (Packet, error) {
	p := Packet{From: from, Raw: b}
	op, ok := proto.PeekOpcode(b)
	if !ok {
		return p, fmt.Errorf("%w: %d bytes", proto.ErrMalformed, len(b))
	}
	p.Op = op
	switch op {
	case proto.OpDATA:
		d, err := proto.ParseData(b)
		if err != nil {
			return p, err
		}
		p.Block, p.Payload = d.Block, d.Payload
	case proto.OpACK:
		n, err := proto.ParseAck(b)
		if err != nil {
			return p, err
		}
		p.Block = n
	case proto.OpERROR:
		e, err := proto.ParseError(b)
		if err != nil {
			return p, err
		}
		p.Error = e
	case proto.OpOACK:
		opts, err := proto.ParseOACK(b)
		if err != nil {
			return p, err
		}
		p.Options = opts
	case proto.OpRRQ, proto.OpWRQ:
		r, err := proto.ParseRequest(b)
		if err != nil && !errors.Is(err, proto.ErrUnknownMode) {
			return p, err
		}
		p.Options = r.Options
	default:
		return p, fmt.Errorf("%w: opcode %d", proto.ErrMalformed, uint16(op))
	}
	return p, nil
}
