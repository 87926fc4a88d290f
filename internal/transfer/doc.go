// Package transfer is the per-session TFTP engine a worker runs once the
// content is resolved: Transfer.Send for a download (RRQ: lockstep, or
// windows of RFC 7440), Transfer.Receive for an upload (WRQ), after the
// options negotiated by package proto (the OACK, RFC 2347). It works over
// a small packet-conn interface (PacketConn) and a clock (Clock), so tests
// drive it without processes or real time, and fills a
// tftp.SessionStats as it goes.
//
// Behaviour, with the RFC sections in the code where it is subtle:
// retransmission only on timeout, never on a duplicate ACK (the Sorcerer's
// Apprentice, RFC 1350 §4 and RFC 1123 4.2.3.1); the timeout doubles on
// consecutive timeouts and the session gives up after Config.Retries; an
// ACK for an earlier block of a window restarts the window there (RFC 7440
// §4); block numbers roll over past 65535; a packet from another address
// is answered ERROR 5 and does not disturb the transfer. An ERROR the peer
// sends ends the session with a *tftp.Error whose Remote is set; errors of
// the content source or sink are sent to the peer as tftp.WireError maps
// them. Stopped records why a context ended a session.
package transfer
