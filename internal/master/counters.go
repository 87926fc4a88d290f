package master

import (
	"sync/atomic"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Counters are the master's running totals. Read them with Snapshot.
type Counters struct {
	Requests       atomic.Uint64 // datagrams read on the listeners
	Accepted       atomic.Uint64 // requests handed to a worker
	Malformed      atomic.Uint64 // unparsable datagrams and non-request opcodes (dropped)
	Rejected       atomic.Uint64 // readable requests refused by policy (ERROR sent)
	Busy           atomic.Uint64 // refused with "server busy"
	Duplicates     atomic.Uint64 // repeats of a request already being served (dropped)
	Spawns         atomic.Uint64 // workers started
	SpawnFailures  atomic.Uint64 // workers that never became ready
	Crashes        atomic.Uint64 // workers that exited without Stats
	Killed         atomic.Uint64 // workers killed past their deadline
	HandoffFailure atomic.Uint64 // handoffs that failed (the request was retried or refused)
	outcomes       [16]atomic.Uint64
}

// Snapshot is a plain copy of Counters.
type Snapshot struct {
	Requests, Accepted, Malformed, Rejected, Busy, Duplicates uint64
	Spawns, SpawnFailures, Crashes, Killed, HandoffFailure    uint64
	Outcomes                                                  map[stats.Outcome]uint64
	LiveWorkers, IdleWorkers, Inflight                        int64
}

func outcomeIndex(o stats.Outcome) int {
	for i, x := range stats.Outcomes {
		if x == o {
			return i
		}
	}
	return -1
}

func (c *Counters) countOutcome(o stats.Outcome) {
	if i := outcomeIndex(o); i >= 0 {
		c.outcomes[i].Add(1)
	}
}
