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

// Verbosity steps (in.tftpd's -v count or --verbosity N): 0 logs lifecycle,
// refusals and one line per session (Info); VerbosityRequests (-v) adds a
// line per request and the workers' decisions (Debug); VerbosityPackets
// (-vv) adds a line per packet from the workers, with block numbers.
const (
	VerbosityRequests = 1
	VerbosityPackets  = 2
)

// Level maps a verbosity to a level: Debug from VerbosityRequests on.
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
	// Durations are numbers of seconds ("duration":0.000440014), which
	// log pipelines can compare and sum; the workers' lines do the same.
	enc.EncodeDuration = zapcore.SecondsDurationEncoder
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
