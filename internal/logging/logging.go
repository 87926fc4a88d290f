// Package logging builds the zap loggers of the master and the workers from
// one configuration, so both write one consistent stream to standard error.
package logging

import (
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// Formats.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Level maps in.tftpd's verbosity (-v count or --verbosity N) to a level:
// 0 logs lifecycle and one line per session (Info); 1 and more add request
// and per-packet lines (Debug).
func Level(verbosity int) zapcore.Level {
	if verbosity >= 1 {
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel
}

// DefaultFormat is JSON unless standard error is a terminal.
func DefaultFormat() string {
	if _, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS); err == nil {
		return FormatConsole
	}
	return FormatJSON
}

// New builds a logger writing to standard error. name is the component
// ("master", "worker"); format is FormatJSON, FormatConsole or "" (default).
func New(name, format string, verbosity int) *zap.Logger {
	if format == "" {
		format = DefaultFormat()
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var encoder zapcore.Encoder
	if format == FormatConsole {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(os.Stderr), Level(verbosity))
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))).Named(name)
}
