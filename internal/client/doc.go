// Package client is a scripted TFTP client built on internal/proto. It is
// used by the end-to-end tests and by the load generator (cmd/fbtftp-bench).
//
// Get and Put run a whole RRQ or WRQ transfer with the behaviour RFC 1350
// asks of a client: they negotiate options (RFC 2347, 2348, 2349, RFC 7440
// windowsize and tftpd-hpa's rollover), acknowledge an OACK with ACK 0, run
// in lockstep or with windows, follow block numbers past 65535, re-ACK
// duplicate DATA, retransmit on timeout within a bounded budget, answer a
// packet from a stranger with ERROR 5 (RFC 1350 §4) and return a server's
// ERROR as a *tftp.Error (Remote set). Result reports what was negotiated and measured.
//
// Session is the lower level: one UDP socket with Send, SendTo and Recv, for
// tests that must script exact packet sequences (drop ACK n, duplicate an
// ACK, reject an OACK with ERROR 8, talk from a wrong TID, ...).
//
// The receive path reuses one buffer per transfer and allocates nothing
// per packet, so the load generator can run many transfers at once.
package client
