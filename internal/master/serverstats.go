package master

import (
	"sync/atomic"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// ServerCounters aggregates server-wide counters from the master's events
// for fbtftp's server-stats callback. Take reads them and, with reset,
// zeroes them atomically (each counter is swapped, so no event is lost or
// counted twice between two Takes). It implements Observer.
type ServerCounters struct {
	requests, accepted, malformed, rejected, busy, duplicates atomic.Uint64
	clientLimited, dropped                                    atomic.Uint64
	queueAdmitted                                             atomic.Uint64
	queueDropped                                              [4]atomic.Uint64 // by QueueDrops
	spawns, spawnFailures, crashes, killed                    atomic.Uint64
	bytesSent, bytesReceived, retransmits, errorsSent         atomic.Uint64
	outcomes                                                  [16]atomic.Uint64
}

// ServerTotals is one reading of ServerCounters.
type ServerTotals struct {
	Requests, Accepted, Malformed, Rejected, Busy, Duplicates uint64
	ClientLimited, Dropped                                    uint64
	// QueueAdmitted counts requests that waited in the admission queue and
	// got a slot; QueueDropped the ones it refused or dropped, by reason.
	QueueAdmitted                                     uint64
	QueueDropped                                      map[QueueDrop]uint64
	WorkerSpawns, WorkerSpawnFailures, WorkerCrashes  uint64
	WorkersKilled                                     uint64
	BytesSent, BytesReceived, Retransmits, ErrorsSent uint64
	Sessions                                          map[stats.Outcome]uint64
}

var (
	_ Observer         = (*ServerCounters)(nil)
	_ ProgressObserver = (*ServerCounters)(nil)
	_ ProgressObserver = Observers(nil)
	_ QueueObserver    = (*ServerCounters)(nil)
	_ QueueObserver    = Observers(nil)
)

func take(c *atomic.Uint64, reset bool) uint64 {
	if reset {
		return c.Swap(0)
	}
	return c.Load()
}

// Take returns the totals since the last reset; reset zeroes them.
func (s *ServerCounters) Take(reset bool) ServerTotals {
	t := ServerTotals{
		Requests: take(&s.requests, reset), Accepted: take(&s.accepted, reset),
		Malformed: take(&s.malformed, reset), Rejected: take(&s.rejected, reset),
		Busy: take(&s.busy, reset), Duplicates: take(&s.duplicates, reset),
		ClientLimited: take(&s.clientLimited, reset), Dropped: take(&s.dropped, reset),
		QueueAdmitted: take(&s.queueAdmitted, reset), QueueDropped: map[QueueDrop]uint64{},
		WorkerSpawns: take(&s.spawns, reset), WorkerSpawnFailures: take(&s.spawnFailures, reset),
		WorkerCrashes: take(&s.crashes, reset), WorkersKilled: take(&s.killed, reset),
		BytesSent: take(&s.bytesSent, reset), BytesReceived: take(&s.bytesReceived, reset),
		Retransmits: take(&s.retransmits, reset), ErrorsSent: take(&s.errorsSent, reset),
		Sessions: map[stats.Outcome]uint64{},
	}
	for i, o := range stats.Outcomes {
		if n := take(&s.outcomes[i], reset); n > 0 {
			t.Sessions[o] = n
		}
	}
	for i, r := range QueueDrops {
		t.QueueDropped[r] = take(&s.queueDropped[i], reset)
	}
	return t
}

// Request implements Observer.
func (s *ServerCounters) Request(_ proto.Opcode, d Decision) {
	s.requests.Add(1)
	switch d {
	case DecisionAccepted:
		s.accepted.Add(1)
	case DecisionRejected:
		s.rejected.Add(1)
	case DecisionMalformed:
		s.malformed.Add(1)
	case DecisionBusy:
		s.busy.Add(1)
	case DecisionDuplicate:
		s.duplicates.Add(1)
	case DecisionClientLimit:
		s.clientLimited.Add(1)
	case DecisionDropped:
		s.dropped.Add(1)
	}
}

// QueueAdmitted implements QueueObserver.
func (s *ServerCounters) QueueAdmitted(time.Duration) { s.queueAdmitted.Add(1) }

// QueueDropped implements QueueObserver.
func (s *ServerCounters) QueueDropped(r QueueDrop) {
	for i, x := range QueueDrops {
		if x == r {
			s.queueDropped[i].Add(1)
		}
	}
}

// ErrorSent implements Observer.
func (s *ServerCounters) ErrorSent(proto.ErrorCode) { s.errorsSent.Add(1) }

// WorkerStarted implements Observer.
func (s *ServerCounters) WorkerStarted(time.Duration) { s.spawns.Add(1) }

// WorkerFailed implements Observer.
func (s *ServerCounters) WorkerFailed() { s.spawnFailures.Add(1) }

// WorkerCrashed implements Observer.
func (s *ServerCounters) WorkerCrashed(killed bool) {
	s.crashes.Add(1)
	if killed {
		s.killed.Add(1)
	}
}

// Handoff implements Observer.
func (s *ServerCounters) Handoff(time.Duration) {}

// SessionFinished implements Observer. Bytes and retransmits come with
// SessionProgress.
func (s *ServerCounters) SessionFinished(st *stats.SessionStats) {
	if i := outcomeIndex(st.Outcome); i >= 0 {
		s.outcomes[i].Add(1)
	}
}

// SessionProgress implements ProgressObserver.
func (s *ServerCounters) SessionProgress(op proto.Opcode, d stats.ProgressDelta) {
	if op == proto.OpWRQ {
		s.bytesReceived.Add(d.Bytes)
	} else {
		s.bytesSent.Add(d.Bytes)
	}
	s.retransmits.Add(d.Retransmits)
}

// Observers fans events out to several observers, in order.
type Observers []Observer

// Request implements Observer.
func (o Observers) Request(op proto.Opcode, d Decision) {
	for _, x := range o {
		x.Request(op, d)
	}
}

// ErrorSent implements Observer.
func (o Observers) ErrorSent(c proto.ErrorCode) {
	for _, x := range o {
		x.ErrorSent(c)
	}
}

// WorkerStarted implements Observer.
func (o Observers) WorkerStarted(d time.Duration) {
	for _, x := range o {
		x.WorkerStarted(d)
	}
}

// WorkerFailed implements Observer.
func (o Observers) WorkerFailed() {
	for _, x := range o {
		x.WorkerFailed()
	}
}

// WorkerCrashed implements Observer.
func (o Observers) WorkerCrashed(killed bool) {
	for _, x := range o {
		x.WorkerCrashed(killed)
	}
}

// Handoff implements Observer.
func (o Observers) Handoff(d time.Duration) {
	for _, x := range o {
		x.Handoff(d)
	}
}

// SessionFinished implements Observer.
func (o Observers) SessionFinished(st *stats.SessionStats) {
	for _, x := range o {
		x.SessionFinished(st)
	}
}

// SessionProgress implements ProgressObserver: it reaches the members
// that want it.
func (o Observers) SessionProgress(op proto.Opcode, d stats.ProgressDelta) {
	for _, x := range o {
		if ob, ok := x.(ProgressObserver); ok {
			ob.SessionProgress(op, d)
		}
	}
}

// QueueAdmitted implements QueueObserver: it reaches the members that
// want the admission queue's events.
func (o Observers) QueueAdmitted(wait time.Duration) {
	for _, x := range o {
		if q, ok := x.(QueueObserver); ok {
			q.QueueAdmitted(wait)
		}
	}
}

// QueueDropped implements QueueObserver.
func (o Observers) QueueDropped(r QueueDrop) {
	for _, x := range o {
		if q, ok := x.(QueueObserver); ok {
			q.QueueDropped(r)
		}
	}
}

// OriginWork implements OriginObserver: it reaches the members that want
// the origin work reported after sessions.
func (o Observers) OriginWork(w *stats.OriginStats) {
	for _, x := range o {
		if ob, ok := x.(OriginObserver); ok {
			ob.OriginWork(w)
		}
	}
}
