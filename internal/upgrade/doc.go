// Package upgrade hands a server's listening sockets to a new copy of its
// program, for a zero-downtime upgrade (nginx's SIGUSR2 binary upgrade;
// the handover follows cloudflare/tableflip's shape). server.Server uses
// it (Server.Upgrade, and Run in the new process); fbtftp-master calls
// that on SIGUSR2.
//
// # The handover
//
// The old process (the parent) starts the program again (Start): the
// binary at its path now (Self: the file may have been replaced by a
// package upgrade), with the same arguments and working directory, its
// environment plus FBTFTP_UPGRADE. The child gets
//
//	fd 0, 1, 2   the parent's standard input, output and error
//	fd 3         its end of a unix stream socketpair: the control channel
//	fd 4...      the handed-over sockets, duplicates of the parent's
//
// and FBTFTP_UPGRADE="1 parent=PID ctl=3 NAME=FD,FD... ..." says which
// descriptor is what (Inherit parses it, checks every descriptor and
// removes the variable, so that the child's own children never see it).
// Duplicates share the open socket: whatever either process reads, the
// other does not, and datagrams or connections queued on a socket are
// there for whichever reads first. The descriptors are passed with their
// numbers, never through (*os.File).Fd, which would turn the shared
// socket blocking under the parent's feet.
//
// On the control channel each message is a type byte, a big-endian
// 32-bit payload length (at most MaxPayload) and the payload:
//
//	'R' child -> parent   ready: it serves the sockets; payload: its version
//	'C' parent -> child   committed: the parent has stopped accepting;
//	                      payload: its state (metrics), for the child to carry on
//	'S' parent -> child   a newer state, while the parent drains
//
// The parent waits for 'R' at most Config.Timeout. If the child exits
// first, closes the channel, says anything else, or is late, the parent
// kills it, reaps it and goes on serving: the upgrade failed and nothing
// changed. After 'R' the parent stops accepting, sends 'C' and, while its
// sessions drain, 'S' now and then; it exits when they are over, which
// closes the channel: end of file tells the child its parent is gone (a
// parent that dies early looks the same). The child serves from the
// moment it says 'R': for a moment both processes read the sockets, and
// either answers a request, so none waits.
package upgrade
