package master_test

import (
	"errors"
	"fmt"
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
// MaxSessionsPerClient places; beyond, its requests wait in the queue,
// unanswered, as many as its share; beyond that, they are dropped. Other
// addresses are served.
func TestSessionsPerClient(t *testing.T) {
	e := start(t, func(c *master.Config) { c.MaxSessionsPerClient, c.DrainTimeout = 2, 100*time.Millisecond })
	var held []*client.Session
	for range 5 {
		s, err := client.NewSession(e.addr, netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
		held = append(held, s)
	}
	waitFor(t, "requests read", func() bool { c := e.m.Counters(); return c.ClientLimited == 1 && c.Accepted == 2 })
	if c := e.m.Counters(); c.Accepted != 2 || c.QueueLength != 2 || c.QueueDropped[master.QueueDropClient] != 1 {
		t.Fatalf("accepted %d waiting %d client-limited %d (queue: %d), want 2, 2 and 1",
			c.Accepted, c.QueueLength, c.ClientLimited, c.QueueDropped[master.QueueDropClient])
	}
	for _, s := range held[2:] {
		if p, err := s.RecvPacket(300 * time.Millisecond); err == nil {
			t.Fatalf("a request over the limit was answered: %+v", p)
		}
	}
	// Another address is served (127.0.0.2 is loopback on Linux).
	got, _, err := get(t, e.addr, "one", client.Options{LocalAddr: netip.MustParseAddrPort("127.0.0.2:0"), Timeout: time.Second})
	if err != nil || len(got) != 1 {
		t.Fatalf("another client: %v", err)
	}
}

// TestDrainerHoldsSlot: a worker draining after its session (a
// fbtftp.Drainer) holds its place until it exits: with MaxWorkers 2, two
// lingering workers make a third request wait, never a third live worker;
// it is served once one of them exits. With BusyError it is refused.
func TestDrainerHoldsSlot(t *testing.T) {
	for _, busy := range []bool{false, true} {
		t.Run(fmt.Sprintf("busy_error=%v", busy), func(t *testing.T) {
			release := filepath.Join(t.TempDir(), "release")
			e := start(t, func(c *master.Config) {
				c.MaxWorkers = 2
				c.BusyError = busy
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
			if busy {
				_, _, err := get(t, e.addr, "one", client.Options{Retries: -1, Timeout: 5 * time.Second})
				var se *tftp.Error
				if !errors.As(err, &se) || se.Message != "server busy" {
					t.Fatalf("third request while two workers drain: %v, want server busy", err)
				}
				os.WriteFile(release, nil, 0o644)
				waitFor(t, "drains over, slots free", func() bool { return e.m.Counters().SlotsHeld == 0 })
				if got, _, err := get(t, e.addr, "one", client.Options{Timeout: time.Second}); err != nil || len(got) != 1 {
					t.Fatal(err)
				}
				return
			}
			third := make(chan error, 1)
			go func() {
				// Retransmitting every 200 ms, as firmware does: it keeps
				// its place.
				got, _, err := get(t, e.addr, "one", client.Options{Retries: 100, Timeout: 200 * time.Millisecond})
				if err == nil && len(got) != 1 {
					err = fmt.Errorf("%d bytes", len(got))
				}
				third <- err
			}()
			waitFor(t, "the third request waiting", func() bool { return e.m.Counters().QueueLength == 1 })
			if n := e.m.Counters().LiveWorkers; n > 2 {
				t.Fatalf("%d live workers with MaxWorkers 2", n)
			}
			select {
			case err := <-third:
				t.Fatalf("served while both places are held: %v", err)
			default:
			}
			os.WriteFile(release, nil, 0o644)
			if err := <-third; err != nil {
				t.Fatalf("the waiting request: %v", err)
			}
			if c := e.m.Counters(); c.QueueAdmitted != 1 || c.Busy != 0 {
				t.Fatalf("admitted from the queue %d, busy %d", c.QueueAdmitted, c.Busy)
			}
		})
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
