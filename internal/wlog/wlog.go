package wlog

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

// Formats, as the master's --log-format.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// Verbosity steps, as the master's (internal/logging): request-level
// Debug lines from VerbosityRequests (-v), per-packet lines from
// VerbosityPackets (-vv).
const (
	VerbosityRequests = 1
	VerbosityPackets  = 2
)

// EnvFormat names the environment variable through which the master tells
// its workers its log format (json or console) before any session, so that
// a worker's error before or after its session is a line of the same
// stream.
const EnvFormat = "FBTFTP_LOG_FORMAT"

// Level maps in.tftpd's verbosity like the master: 0 is Info, 1 and more
// Debug.
func Level(verbosity int) slog.Level {
	if verbosity >= 1 {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// New returns a logger named name writing to w in format ("json", or
// "console" for key=value text) at the level for verbosity.
func New(w io.Writer, name, format string, verbosity int) *slog.Logger {
	opts := &slog.HandlerOptions{Level: Level(verbosity), ReplaceAttr: zapKeys}
	var h slog.Handler
	if format == FormatConsole {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With(slog.String("logger", name))
}

// zapKeys renames slog's built-in attributes to zap's production names and
// formats: "ts" in ISO 8601 UTC with milliseconds, lower-case levels.
func zapKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("ts", a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z0700"))
	case slog.LevelKey:
		return slog.String("level", strings.ToLower(a.Value.String()))
	}
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds()) // as zap's SecondsDurationEncoder
	}
	return a
}

// Discard is a logger that drops everything.
func Discard() *slog.Logger { return slog.New(discard{}) }

type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
