package master_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// heldWriter lets the first n bytes through, then blocks until open is
// closed (the client ACKs nothing meanwhile).
type heldWriter struct {
	buf     bytes.Buffer
	n       int
	reached chan struct{}
	open    chan struct{}
	once    sync.Once
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if w.buf.Len() >= w.n {
		w.once.Do(func() { close(w.reached) })
		<-w.open
	}
	return w.buf.Write(p)
}

// TestStopAccepting: after StopAccepting the master closes its idle
// workers but lets the session in flight run to its end, accounts it as
// usual, and only then does Run return.
func TestStopAccepting(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.Prefork = 1
		c.Settings.Timeout = 2 * time.Second // the held client ACKs late
	})
	w := &heldWriter{n: 100_000, reached: make(chan struct{}), open: make(chan struct{})}
	var openOnce sync.Once
	release := func() { openOnce.Do(func() { close(w.open) }) }
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := client.Get(context.Background(), e.addr, "big", client.Options{Timeout: 2 * time.Second}, w)
		done <- err
	}()
	select {
	case <-w.reached:
	case err := <-done:
		t.Fatalf("download ended early: %v", err)
	}
	e.m.StopAccepting()
	waitFor(t, "idle workers closed", func() bool { return e.m.Counters().IdleWorkers == 0 && e.m.Counters().LiveWorkers == 1 })
	select {
	case err := <-e.done:
		t.Fatalf("Run returned with a session in flight: %v", err)
	default:
	}
	release()
	if err := <-done; err != nil || !bytes.Equal(w.buf.Bytes(), pattern(300_000)) {
		t.Fatalf("download: %v (%d bytes)", err, w.buf.Len())
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		e.done <- err // for the cleanup's stop
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the last session")
	}
	ss := e.stats()
	if len(ss) != 1 || ss[0].Outcome != stats.OutcomeSuccess {
		t.Fatalf("sessions %+v", ss)
	}
	if c := e.m.Counters(); c.LiveWorkers != 0 {
		t.Errorf("live workers after Run: %d", c.LiveWorkers)
	}
}
