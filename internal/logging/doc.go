// Package logging builds the master's zap logger (fbtftp-master and
// server.Server's users): JSON, or console on a terminal, at the level of
// in.tftpd's -v count, to standard error. Workers log with log/slog
// through package wlog in the same format and keys, to the same standard
// error, so that one stream results.
package logging
