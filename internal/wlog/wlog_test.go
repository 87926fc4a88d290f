package wlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestJSONLikeZap(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, "worker", FormatJSON, 0)
	l.Info("session failed", "session_id", "x-1", "duration", 1500*time.Millisecond)
	l.Debug("hidden at verbosity 0")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if m["level"] != "info" || m["logger"] != "worker" || m["msg"] != "session failed" || m["session_id"] != "x-1" || m["duration"] != 1.5 {
		t.Fatalf("%v", m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", m["ts"].(string)); err != nil {
		t.Fatalf("ts %v: %v", m["ts"], err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("debug line written at verbosity 0: %s", b.String())
	}
}

func TestConsoleAndLevels(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, "worker", FormatConsole, 2)
	l.Debug("packet", slog.Group("g", "k", 1))
	if !strings.Contains(b.String(), "level=debug") || !strings.Contains(b.String(), "g.k=1") {
		t.Fatalf("%s", b.String())
	}
	if Level(0) != slog.LevelInfo || Level(3) != slog.LevelDebug {
		t.Fatal("levels")
	}
	d := Discard()
	if d.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("discard enabled")
	}
	d.With("a", 1).WithGroup("g").Error("nothing")
}
