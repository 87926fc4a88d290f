package master

import "github.com/fbtftp-go/fbtftp/internal/stats"

// Snapshot is a reading of the master's running totals (since start) and
// its worker gauges; see Master.Counters.
type Snapshot struct {
	Requests, Accepted, Malformed, Rejected, Busy, Duplicates uint64
	ClientLimited                                             uint64 // requests dropped by MaxSessionsPerClient
	Dropped                                                   uint64 // requests the admission queue dropped (DecisionDropped)
	Spawns, SpawnFailures, Crashes, Killed, HandoffFailure    uint64
	Violations                                                map[Violation]uint64 // by every kind, zeros included
	Outcomes                                                  map[stats.Outcome]uint64
	LiveWorkers, IdleWorkers, Inflight                        int64
	MaxWorkers                                                int64 // Config.MaxWorkers in force
	// SlotsHeld counts the places (MaxWorkers) held: sessions admitted
	// whose worker, or a process it started, is still alive.
	SlotsHeld int64
	// QueueLength is the number of requests waiting in the admission
	// queue, QueueSize its bound (Config.QueueSize; 0: no queue).
	// QueueSaturated: it is full, or was in the last 10 s.
	QueueLength, QueueSize int64
	QueueSaturated         bool
	// QueueAdmitted counts the requests that waited and got a place;
	// QueueDropped the ones the queue refused or dropped, by reason (every
	// reason present).
	QueueAdmitted uint64
	QueueDropped  map[QueueDrop]uint64
}

func outcomeIndex(o stats.Outcome) int {
	for i, x := range stats.Outcomes {
		if x == o {
			return i
		}
	}
	return -1
}
