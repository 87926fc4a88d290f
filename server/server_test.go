package server

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestCallbacksSurvivePanics: a panicking server-stats callback is
// recovered and logged; the server keeps running and stops cleanly.
func TestCallbacksSurvivePanics(t *testing.T) {
	var calls, listening atomic.Int32
	// The run ends once the third stats callback has panicked (an event,
	// not a time: a loaded machine may take long to get there); the 30 s
	// bound only keeps a broken server from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &Server{
		Addrs:         []string{"127.0.0.1:0"},
		Root:          t.TempDir(),
		WorkerPath:    "/bin/false", // never started: no request arrives
		StatsInterval: 10 * time.Millisecond,
		ServerStats: func(st *ServerStats) {
			if calls.Add(1) >= 3 {
				cancel()
			}
			if st.Uptime <= 0 || st.Start.IsZero() {
				t.Errorf("uptime %v start %v", st.Uptime, st.Start)
			}
			panic("callback bug")
		},
		Listening: func(addrs []string) {
			listening.Add(1)
			if len(addrs) != 1 {
				t.Errorf("addrs %v", addrs)
			}
			panic("another callback bug")
		},
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == context.DeadlineExceeded || calls.Load() < 3 || listening.Load() != 1 {
		t.Fatalf("server stats called %d times, listening %d", calls.Load(), listening.Load())
	}
}

func TestRunNeedsRoot(t *testing.T) {
	if err := (&Server{}).Run(context.Background()); err == nil {
		t.Fatal("ran without a root")
	}
	if err := (&Server{Root: t.TempDir(), Addrs: []string{"[bad"}}).Run(context.Background()); err == nil {
		t.Fatal("ran with a bad address")
	}
}

func TestUpgradeNotRunning(t *testing.T) {
	if _, err := (&Server{}).Upgrade(t.Context(), UpgradeConfig{}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Upgrade before Run: %v", err)
	}
}
