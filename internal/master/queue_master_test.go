package master_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// errorsSent counts the ERROR packets the master sends from its listeners.
type errorsSent struct{ n atomic.Int64 }

func (e *errorsSent) Request(proto.Opcode, master.Decision)  {}
func (e *errorsSent) ErrorSent(proto.ErrorCode)              { e.n.Add(1) }
func (e *errorsSent) WorkerStarted(time.Duration)            {}
func (e *errorsSent) WorkerFailed()                          {}
func (e *errorsSent) WorkerCrashed(bool)                     {}
func (e *errorsSent) Handoff(time.Duration)                  {}
func (e *errorsSent) SessionFinished(st *stats.SessionStats) {}

// stormAddr is the source address of storm client i: 127.0.x.y, one per
// client, as real machines have (the per-client limit does not bite).
func stormAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(1 + i/250), byte(1 + i%250)}), 0)
}

// TestStorm: 40 clients start a download at the same moment against
// MaxWorkers 4. Every one completes, byte for byte, and no ERROR is sent:
// the 36 that find no worker wait in the admission queue (their RRQ
// retransmissions keep their place) and are served as workers free. No
// more than 4 sessions run at once. (test/e2e TestStorm: 300 clients
// against the real binaries; here the workers are this test binary, slow
// to start under the race detector.)
func TestStorm(t *testing.T) {
	const clients, workers = 40, 4
	sent := &errorsSent{}
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = workers
		c.Prefork = 4
		c.Observer = sent
	})
	want, err := os.ReadFile(filepath.Join(e.root, "big"))
	if err != nil {
		t.Fatal(err)
	}
	want = want[:64<<10] // the first 64 KiB of "big": a small file per client
	if err := os.WriteFile(filepath.Join(e.root, "storm"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		failed  []string
		refused atomic.Int64
		peak    atomic.Int64
		begin   = make(chan struct{})
	)
	done := make(chan struct{})
	go func() { // the sessions at once, sampled until the storm is over
		for {
			if n := e.m.Counters().SlotsHeld; n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	for i := range clients {
		wg.Go(func() {
			<-begin
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var buf bytes.Buffer
			// A client retransmit timeout of 1 s, and patience.
			_, err := client.Get(ctx, e.addr, "storm", client.Options{LocalAddr: stormAddr(i), Blksize: 1468,
				Timeout: time.Second, Retries: 150}, &buf)
			var se *tftp.Error
			if errors.As(err, &se) {
				refused.Add(1)
			}
			if err != nil || !bytes.Equal(buf.Bytes(), want) {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("%v: %v (%d bytes)", stormAddr(i).Addr(), err, buf.Len()))
				mu.Unlock()
			}
		})
	}
	close(begin)
	wg.Wait()
	close(done)
	c := e.m.Counters()
	t.Logf("%d clients, %d workers: %d waited in the queue; %d ERRORs sent; at most %d sessions at once",
		clients, workers, c.QueueAdmitted, sent.n.Load(), peak.Load())
	if len(failed) > 0 {
		t.Fatalf("%d of %d downloads failed (%d with an ERROR), e.g. %v", len(failed), clients, refused.Load(), failed[:min(len(failed), 5)])
	}
	if n := sent.n.Load(); n != 0 || c.Busy != 0 {
		t.Fatalf("%d ERRORs sent by the master, %d busy", n, c.Busy)
	}
	if c.QueueAdmitted == 0 {
		t.Fatal("nobody waited in the queue: the storm was no storm")
	}
	if peak.Load() > workers {
		t.Fatalf("%d sessions at once, MaxWorkers %d", peak.Load(), workers)
	}
	waitFor(t, "every session accounted", func() bool { return len(e.stats()) == clients })
	for _, st := range e.stats() {
		if st.Outcome != stats.OutcomeSuccess {
			t.Fatalf("session %+v", st)
		}
	}
}

// holdSlot takes the master's only place with a session of "hang" that
// lasts until its deadline.
func holdSlot(t *testing.T, e *env) *client.Session {
	t.Helper()
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
	waitFor(t, "the place taken", func() bool { return e.m.Counters().Accepted == 1 })
	return s
}

// TestQueueTimeout: a waiting request its client does not send again
// within QueueTimeout is dropped without an answer; the client's next
// retransmission (same port) enters the queue again and is served once a
// place frees.
func TestQueueTimeout(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = 1
		c.QueueTimeout = 200 * time.Millisecond
		c.Settings.SessionDeadline = 2 * time.Second // ends the "hang" session
	})
	holdSlot(t, e)
	s, err := client.NewSession(e.addr, netip.MustParseAddrPort("127.0.0.3:0"))
	if err != nil {
		t.Fatal(err)
	}
	s.SendRequest(proto.OpRRQ, "one", "octet", nil)
	waitFor(t, "the request dropped", func() bool { return e.m.Counters().QueueDropped[master.QueueDropTimeout] == 1 })
	if p, err := s.RecvPacket(100 * time.Millisecond); err == nil {
		t.Fatalf("a dropped request was answered: %+v", p)
	}
	if c := e.m.Counters(); c.QueueLength != 0 || c.Dropped != 1 {
		t.Fatalf("waiting %d dropped %d, want 0 and 1", c.QueueLength, c.Dropped)
	}
	// The client retransmits from its port: every 50 ms, within the timeout.
	local := s.LocalAddr()
	s.Close()
	got, _, err := get(t, e.addr, "one", client.Options{LocalAddr: local, Timeout: 50 * time.Millisecond, Retries: 200})
	if err != nil || len(got) != 1 {
		t.Fatalf("after re-entering: %v", err)
	}
	if c := e.m.Counters(); c.QueueAdmitted != 1 || c.QueueDropped[master.QueueDropTimeout] != 1 {
		t.Fatalf("admitted %d, timed out %d; want 1 and 1", c.QueueAdmitted, c.QueueDropped[master.QueueDropTimeout])
	}
}

// TestQueueDedupe: a client resending its waiting RRQ (under any
// spelling of the name) keeps one place: one session when it is served.
func TestQueueDedupe(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = 1
		c.Settings.SessionDeadline = time.Second
	})
	holdSlot(t, e)
	s, err := client.NewSession(e.addr, netip.MustParseAddrPort("127.0.0.3:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"one", "/one", "//one", "one", "/./one"} {
		s.SendRequest(proto.OpRRQ, name, "octet", nil)
	}
	waitFor(t, "the repeats read", func() bool { return e.m.Counters().Duplicates == 4 })
	if n := e.m.Counters().QueueLength; n != 1 {
		t.Fatalf("%d places for one request", n)
	}
	// Served once the "hang" session's deadline passes: one DATA 1, from one TID.
	p, err := s.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	s.SendAck(p.From, 1)
	waitFor(t, "both sessions accounted", func() bool { return len(e.stats()) == 2 })
	if p2, err := s.RecvPacket(300 * time.Millisecond); err == nil {
		t.Fatalf("a second session answered: %+v", p2)
	}
	if c := e.m.Counters(); c.QueueAdmitted != 1 || c.Accepted != 2 {
		t.Fatalf("admitted from the queue %d, accepted %d", c.QueueAdmitted, c.Accepted)
	}
}

// TestQueueFairness: a greedy client with 8 requests waiting does not
// starve 4 others that asked after it: the queue serves clients round
// robin, so all 4 are among the first 5 served.
func TestQueueFairness(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = 1
		c.Settings.SessionDeadline = time.Second
	})
	holdSlot(t, e)
	type result struct {
		who string
		err error
	}
	results := make(chan result, 12)
	fetch := func(who string, local netip.AddrPort) {
		got, _, err := get(t, e.addr, "one", client.Options{LocalAddr: local, Timeout: 200 * time.Millisecond, Retries: 100})
		if err == nil && len(got) != 1 {
			err = fmt.Errorf("%d bytes", len(got))
		}
		results <- result{who, err}
	}
	for range 8 {
		go fetch("greedy", netip.MustParseAddrPort("127.0.0.3:0"))
	}
	waitFor(t, "the greedy client's requests waiting", func() bool { return e.m.Counters().QueueLength == 8 })
	for i := range 4 {
		go fetch(fmt.Sprintf("client%d", i), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(4 + i)}), 0))
	}
	waitFor(t, "every request waiting", func() bool { return e.m.Counters().QueueLength == 12 })
	// Served one at a time, once the holder's deadline passes.
	var order []string
	for range 12 {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.who, r.err)
		}
		order = append(order, r.who)
	}
	greedy := 0
	for _, who := range order[:5] {
		if who == "greedy" {
			greedy++
		}
	}
	if greedy > 1 {
		t.Fatalf("the greedy client got %d of the first 5 places: %v", greedy, order)
	}
}

// TestQueueFull: a request that finds the queue full is dropped,
// unanswered, and counted; the master says it is saturated.
func TestQueueFull(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.MaxWorkers = 1
		c.QueueSize = 2
		c.DrainTimeout = 100 * time.Millisecond
	})
	holdSlot(t, e)
	if e.m.QueueSaturated() {
		t.Fatal("saturated before the queue filled")
	}
	var ss []*client.Session
	for i := range 3 {
		s, err := client.NewSession(e.addr, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(3 + i)}), 0))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SendRequest(proto.OpRRQ, "one", "octet", nil)
		ss = append(ss, s)
		waitFor(t, "the request read", func() bool { c := e.m.Counters(); return c.QueueLength+int64(c.Dropped) == int64(i+1) })
	}
	c := e.m.Counters()
	if c.QueueLength != 2 || c.Dropped != 1 || c.QueueDropped[master.QueueDropFull] != 1 || !c.QueueSaturated {
		t.Fatalf("waiting %d, dropped %d (full: %d), saturated %v", c.QueueLength, c.Dropped, c.QueueDropped[master.QueueDropFull], c.QueueSaturated)
	}
	if p, err := ss[2].RecvPacket(200 * time.Millisecond); err == nil {
		t.Fatalf("the dropped request was answered: %+v", p)
	}
	if !e.m.Accepting() {
		t.Fatal("a saturated queue made the master unhealthy")
	}
}
