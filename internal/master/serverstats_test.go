package master

import (
	"sync"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

func TestServerCountersTakeAndReset(t *testing.T) {
	var c ServerCounters
	obs := Observers{&c, nopObserver{}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				obs.Request(proto.OpRRQ, DecisionAccepted)
				obs.SessionFinished(&stats.SessionStats{Op: proto.OpRRQ, Outcome: stats.OutcomeSuccess, Bytes: 10, Retransmits: 1})
			}
		})
	}
	// Concurrent resets: what every Take returns adds up to the total.
	var sum uint64
	for range 50 {
		sum += c.Take(true).Accepted
	}
	wg.Wait()
	last := c.Take(true)
	if sum+last.Accepted != 8000 {
		t.Fatalf("accepted %d, want 8000", sum+last.Accepted)
	}
	obs.Request(0, DecisionMalformed)
	obs.Request(proto.OpWRQ, DecisionRejected)
	obs.Request(proto.OpRRQ, DecisionBusy)
	obs.Request(proto.OpRRQ, DecisionDuplicate)
	obs.ErrorSent(proto.ErrUndefined)
	obs.WorkerStarted(0)
	obs.WorkerFailed()
	obs.WorkerCrashed(true)
	obs.Handoff(0)
	obs.SessionProgress(proto.OpWRQ, stats.ProgressDelta{Bytes: 7})
	obs.SessionFinished(&stats.SessionStats{Op: proto.OpWRQ, Outcome: stats.OutcomeProbe, Bytes: 7}) // counted by SessionProgress
	got := c.Take(false)
	if got.Requests != 4 || got.Malformed != 1 || got.Rejected != 1 || got.Busy != 1 || got.Duplicates != 1 ||
		got.ErrorsSent != 1 || got.WorkerSpawns != 1 || got.WorkerSpawnFailures != 1 || got.WorkerCrashes != 1 ||
		got.WorkersKilled != 1 || got.BytesReceived != 7 || got.Sessions[stats.OutcomeProbe] != 1 {
		t.Fatalf("%+v", got)
	}
	if again := c.Take(true); again.Requests != 4 {
		t.Fatal("Take(false) reset the counters")
	}
	if zero := c.Take(false); zero.Requests != 0 || len(zero.Sessions) != 0 {
		t.Fatalf("not reset: %+v", zero)
	}
}

func TestAccepting(t *testing.T) {
	m := &Master{started: make(chan struct{})}
	if m.Accepting() {
		t.Fatal("accepting before start")
	}
	close(m.started)
	if !m.Accepting() {
		t.Fatal("not accepting after start")
	}
	m.draining = true
	if m.Accepting() {
		t.Fatal("accepting while draining")
	}
}

type originCounter struct {
	nopObserver
	n int
}

func (c *originCounter) OriginWork(*stats.OriginStats) { c.n++ }

// TestObserversOriginWork: a fan-out of observers passes the late origin
// reports to the members that want them (the server's metrics sit behind
// one).
func TestObserversOriginWork(t *testing.T) {
	c := &originCounter{}
	var ob Observer = Observers{&ServerCounters{}, c}
	oo, ok := ob.(OriginObserver)
	if !ok {
		t.Fatal("Observers is no OriginObserver")
	}
	oo.OriginWork(&stats.OriginStats{Fills: 1})
	if c.n != 1 {
		t.Fatalf("%d reports", c.n)
	}
}
