// Package proto is the TFTP wire format: packet parsing and encoding, error
// codes, option negotiation and netascii conversion. It does no I/O and
// imports only the standard library and package tftp, whose Opcode, Mode,
// Option and ErrorCode it uses under its own names.
//
// Parsers check every length and NUL terminator and never panic on any
// input. They accept requests up to MaxPacketSize (the largest UDP payload),
// filenames up to MaxFilenameLen bytes, at most MaxOptions options per
// request, and option names and values up to MaxOptionLen bytes each;
// anything beyond these bounds is ErrMalformed. Encoders are Append-style:
// they append to a caller's buffer and allocate only when it must grow.
//
// Specifications: RFC 1350 (TFTP), RFC 2347 (option extension), RFC 2348
// (blksize), RFC 2349 (timeout, tsize), RFC 7440 (windowsize), and the
// tftpd-hpa extensions utimeout, rollover and blksize2.
package proto
