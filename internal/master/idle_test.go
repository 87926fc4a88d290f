package master_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// TestIdleTimeout: with IdleTimeout, Run returns on its own once nothing
// has happened for that long, after serving what came before.
func TestIdleTimeout(t *testing.T) {
	e := start(t, func(c *master.Config) { c.IdleTimeout = 300 * time.Millisecond })
	if _, _, err := get(t, e.addr, "big", client.Options{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		e.done <- err
	case <-time.After(15 * time.Second):
		t.Fatal("master still running long after the idle timeout")
	}
	if n := e.m.Counters().Accepted; n != 1 {
		t.Errorf("accepted %d sessions, want 1", n)
	}
}

// TestReload: Reload replaces the idle pool with new workers, which get the
// new configuration (here a map rule), and serving goes on. No worker
// started before the reload serves a session after it.
func TestReload(t *testing.T) {
	e := start(t, func(c *master.Config) { c.Prefork = 2 })
	waitFor(t, "a full pool", func() bool { return e.m.Counters().IdleWorkers == 2 })
	if _, _, err := get(t, e.addr, "alias", client.Options{}); !errors.Is(err, tftp.ErrNotFound) {
		t.Fatalf("before the reload: %v", err)
	}
	waitFor(t, "a full pool", func() bool { return e.m.Counters().IdleWorkers == 2 })
	spawns := e.m.Counters().Spawns
	rules := "r ^alias$ one\n"
	wc, err := ipc.SealWorkerConfig(&ipc.WorkerConfig{MapRules: []byte(rules)})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := remap.Parse(strings.NewReader(rules))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.m.Reload(wc, parsed); n != 2 {
		t.Errorf("Reload closed %d workers, want 2", n)
	}
	if _, _, err := get(t, e.addr, "alias", client.Options{}); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	waitFor(t, "a refilled pool", func() bool {
		c := e.m.Counters()
		return c.Spawns >= spawns+2 && c.IdleWorkers == 2 && c.LiveWorkers == 2
	})
	if _, _, err := get(t, e.addr, "one", client.Options{}); err != nil {
		t.Fatal(err)
	}
	if c := e.m.Counters(); c.Crashes != 0 {
		t.Errorf("%d crashes counted for closed idle workers", c.Crashes)
	}
}
