package master_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// TestDuplicateSpellings: "/hang", "//hang" and "///hang" from one client
// port are one request: one session, two duplicates.
func TestDuplicateSpellings(t *testing.T) {
	e := start(t, func(c *master.Config) { c.DrainTimeout = 100 * time.Millisecond })
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"/hang", "//hang", "///hang"} {
		s.SendRequest(proto.OpRRQ, name, "octet", nil)
	}
	waitFor(t, "requests read", func() bool { return e.m.Counters().Requests == 3 })
	if c := e.m.Counters(); c.Accepted != 1 || c.Duplicates != 2 {
		t.Fatalf("accepted %d duplicates %d, want 1 and 2", c.Accepted, c.Duplicates)
	}
}

// TestSessionsPerClient: a client address holds at most
// MaxSessionsPerClient places; beyond, its requests are dropped without an
// answer, while other addresses are served.
func TestSessionsPerClient(t *testing.T) {
	e := start(t, func(c *master.Config) { c.MaxSessionsPerClient, c.DrainTimeout = 2, 100*time.Millisecond })
	var held []*client.Session
	for range 3 {
		s, err := client.NewSession(e.addr, netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
		held = append(held, s)
	}
	waitFor(t, "requests read", func() bool { return e.m.Counters().Requests == 3 })
	if c := e.m.Counters(); c.Accepted != 2 || c.ClientLimited != 1 {
		t.Fatalf("accepted %d client-limited %d, want 2 and 1", c.Accepted, c.ClientLimited)
	}
	if p, err := held[2].RecvPacket(300 * time.Millisecond); err == nil {
		t.Fatalf("the request over the limit was answered: %+v", p)
	}
	// Another address is served (127.0.0.2 is loopback on Linux).
	got, _, err := get(t, e.addr, "one", client.Options{LocalAddr: netip.MustParseAddrPort("127.0.0.2:0"), Timeout: time.Second})
	if err != nil || len(got) != 1 {
		t.Fatalf("another client: %v", err)
	}
}

// TestDrainerHoldsSlot: a worker draining after its session (a
// fbtftp.Drainer) holds its place until it exits: with MaxWorkers 2, two
// lingering workers make a third request busy, never a third live worker.
func TestDrainerHoldsSlot(t *testing.T) {
	release := filepath.Join(t.TempDir(), "release")
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = 2
		c.WorkerEnv = []string{workerEnv + "=files", drainUntilEnv + "=" + release}
	})
	for range 2 {
		if got, _, err := get(t, e.addr, "one", client.Options{Timeout: time.Second}); err != nil || len(got) != 1 {
			t.Fatal(err)
		}
	}
	waitFor(t, "sessions accounted", func() bool { return len(e.stats()) == 2 })
	if c := e.m.Counters(); c.LiveWorkers != 2 || c.SlotsHeld != 2 || c.Inflight != 0 {
		t.Fatalf("two draining workers: %+v", c)
	}
	_, _, err := get(t, e.addr, "one", client.Options{Retries: -1, Timeout: 5 * time.Second})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Message != "server busy" {
		t.Fatalf("third request while two workers drain: %v, want server busy", err)
	}
	if n := e.m.Counters().LiveWorkers; n > 2 {
		t.Fatalf("%d live workers with MaxWorkers 2", n)
	}
	os.WriteFile(release, nil, 0o644)
	waitFor(t, "drains over, slots free", func() bool { return e.m.Counters().SlotsHeld == 0 })
	if got, _, err := get(t, e.addr, "one", client.Options{Timeout: time.Second}); err != nil || len(got) != 1 {
		t.Fatal(err)
	}
}

// TestUnhealthyWhileSpawnsFail: /healthz (Accepting) turns false while
// workers fail to start and true again, without a client, once they start.
func TestUnhealthyWhileSpawnsFail(t *testing.T) {
	fail := filepath.Join(t.TempDir(), "fail")
	os.WriteFile(fail, nil, 0o644)
	e := start(t, func(c *master.Config) {
		c.WorkerEnv = []string{workerEnv + "=files", failFileEnv + "=" + fail}
	})
	if !e.m.Accepting() {
		t.Fatal("unhealthy before any spawn")
	}
	_, _, err := get(t, e.addr, "one", client.Options{Retries: -1})
	if err == nil {
		t.Fatal("served with a failing worker")
	}
	waitFor(t, "a failed worker start", func() bool { return e.m.Counters().SpawnFailures > 0 })
	if e.m.Accepting() {
		t.Fatal("healthy while spawns fail")
	}
	os.Remove(fail)
	waitFor(t, "healthy again", e.m.Accepting)
	if got, _, err := get(t, e.addr, "one", client.Options{Timeout: time.Second}); err != nil || len(got) != 1 {
		t.Fatal(err)
	}
}
