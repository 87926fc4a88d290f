// Package tftp is the vocabulary fbtftp-go's packages share: the TFTP
// opcodes, transfer modes, options and error codes of the wire (RFC 1350,
// RFC 2347), the one error type that carries a TFTP code (Error) with the
// one mapping from Go errors to ERROR packets (WireError), and what a
// finished session reports (SessionStats, Outcome, Source).
//
// It imports only the standard library, so that every other package of
// the module, the internal ones included, can use these types, and a
// program that names them (a Handler in package fbtftp, a statistics
// callback of package server) sees their full definition here.
package tftp
