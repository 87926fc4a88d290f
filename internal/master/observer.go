package master

import (
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Decision is what the master did with a datagram on a listening socket.
// The set is closed (a metric label).
type Decision string

// The decisions.
const (
	DecisionAccepted  Decision = "accepted"  // handed to a worker
	DecisionRejected  Decision = "rejected"  // refused by policy with an ERROR (unknown mode, WRQ off, no worker, no port)
	DecisionMalformed Decision = "malformed" // unparsable or not a request: dropped
	DecisionBusy      Decision = "busy"      // --max-workers reached, with Config.BusyError: ERROR 0 "server busy"
	DecisionDuplicate Decision = "duplicate" // a repeat of a request in flight: dropped
	// DecisionClientLimit: the client's address (IPv6: its /64) holds
	// Config.MaxSessionsPerClient slots and as many requests waiting in
	// the admission queue: dropped, unanswered (the client's
	// retransmission gets in once a place frees).
	DecisionClientLimit Decision = "client_limit"
	// DecisionDropped: the request found no free slot and the admission
	// queue could not keep it (full), or it waited there and was dropped
	// (its client stopped asking, or the master began to drain): dropped,
	// unanswered. QueueDrop says why.
	DecisionDropped Decision = "dropped"
)

// Decisions lists every Decision. A request that waits in the admission
// queue is counted once, when it leaves it: accepted (or rejected, when
// its session cannot start), or dropped.
var Decisions = []Decision{DecisionAccepted, DecisionRejected, DecisionMalformed, DecisionBusy, DecisionDuplicate,
	DecisionClientLimit, DecisionDropped}

// QueueDrop is why the admission queue dropped a request, unanswered. The
// set is closed (a metric label).
type QueueDrop string

// The reasons.
const (
	QueueDropFull     QueueDrop = "full"     // the queue held Config.QueueSize requests
	QueueDropClient   QueueDrop = "client"   // the client held its share of the queue (as many as its MaxSessionsPerClient)
	QueueDropTimeout  QueueDrop = "timeout"  // its client did not ask for it again within Config.QueueTimeout
	QueueDropShutdown QueueDrop = "shutdown" // it was waiting when the master began to drain
)

// QueueDrops lists every QueueDrop.
var QueueDrops = []QueueDrop{QueueDropFull, QueueDropClient, QueueDropTimeout, QueueDropShutdown}

// QueueObserver is an Observer that also wants the admission queue's
// events (queue.go). The queue's length is read with Master.Counters.
type QueueObserver interface {
	// QueueAdmitted reports a request that waited in the queue and got a
	// slot, with the time it waited (from its first datagram).
	QueueAdmitted(wait time.Duration)
	// QueueDropped reports a request the queue refused or dropped.
	QueueDropped(reason QueueDrop)
}

// Observer receives the master's events, for metrics. Methods are called
// from many goroutines and must be fast and non-blocking. Gauges (workers
// idle and busy, sessions in flight) are read with Master.Counters.
type Observer interface {
	// Request reports one datagram read on a listener. op is 0 when the
	// datagram was too short to carry an opcode.
	Request(op proto.Opcode, d Decision)
	// ErrorSent reports an ERROR the master itself sent from a listener.
	ErrorSent(code proto.ErrorCode)
	// WorkerStarted reports a worker that became ready, with the time
	// from exec to its Hello.
	WorkerStarted(d time.Duration)
	// WorkerFailed reports a worker that never became ready.
	WorkerFailed()
	// WorkerCrashed reports a worker that exited without Stats (idle or
	// busy) or was killed past its deadline (killed is true).
	WorkerCrashed(killed bool)
	// Handoff reports a session handed over, with the time from reading
	// the request to the worker owning the socket.
	Handoff(latency time.Duration)
	// SessionFinished reports a finished session (crashed ones included,
	// with outcome worker_crash), after the master filled its identity.
	SessionFinished(st *stats.SessionStats)
}

// OriginObserver is an Observer that also wants the origin work workers
// report after their sessions (ipc's OriginStats message); the work done
// during a session comes with SessionFinished, in SessionStats.Origin.
type OriginObserver interface {
	OriginWork(o *stats.OriginStats)
}

// ProgressObserver is an Observer that also wants the growth of running
// sessions (ipc's Progress messages, bounded), so that byte, packet and
// retransmit counters move while transfers run. The master reports every
// session's payload, packets and retransmits to it as deltas, the last one
// just before SessionFinished: such an observer must not count
// SessionStats.Bytes, PacketsSent, PacketsReceived or Retransmits again in
// SessionFinished.
type ProgressObserver interface {
	SessionProgress(op proto.Opcode, d stats.ProgressDelta)
}

// originWork hands a worker's late origin report to the observer.
func (m *Master) originWork(o *stats.OriginStats) {
	if ob, ok := m.cfg.Observer.(OriginObserver); ok {
		ob.OriginWork(o)
	}
}

// queueObserver is o as a QueueObserver, or one that ignores the events.
func queueObserver(o Observer) QueueObserver {
	if q, ok := o.(QueueObserver); ok {
		return q
	}
	return nopQueueObserver{}
}

type nopQueueObserver struct{}

func (nopQueueObserver) QueueAdmitted(time.Duration) {}
func (nopQueueObserver) QueueDropped(QueueDrop)      {}

type nopObserver struct{}

func (nopObserver) Request(proto.Opcode, Decision)      {}
func (nopObserver) ErrorSent(proto.ErrorCode)           {}
func (nopObserver) WorkerStarted(time.Duration)         {}
func (nopObserver) WorkerFailed()                       {}
func (nopObserver) WorkerCrashed(bool)                  {}
func (nopObserver) Handoff(time.Duration)               {}
func (nopObserver) SessionFinished(*stats.SessionStats) {}
