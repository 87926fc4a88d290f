package origin

import (
	"context"
	"sync/atomic"
	"time"
)

// cacheCounters are a Cache's activity in this process, for
// CacheCounters (the Client's counters, see TakeStats, carry the part of
// it the master's metrics export).
type cacheCounters struct {
	fillsStarted, fillsPublished, fillsAborted     atomic.Uint64
	abortedBudget, abortedTooLarge, abortedTimeout atomic.Uint64
	uncached                                       atomic.Uint64
	bytesFilled                                    atomic.Uint64
	evictions, evictedBytes, swept                 atomic.Uint64
	bytes, entries                                 atomic.Int64 // at the last reservation
}

// CacheCounters is what a Cache did in this process since it was created
// (a worker process serves one session, so they are that session's), for
// metrics. The counts only grow; Bytes and Entries are gauges.
type CacheCounters struct {
	FillsStarted   uint64 // fetches into the cache that began
	FillsPublished uint64 // ... and became entries
	FillsAborted   uint64 // ... and did not (any reason, the three below included)
	// AbortedBudget counts fills stopped because a chunked body outgrew
	// MaxBytes or no room could be made (the rest was streamed), and
	// AbortedTooLarge those over Client.MaxSize (the client got ERROR 0).
	AbortedBudget, AbortedTooLarge uint64
	// AbortedTimeout counts fills stopped by Client.Abort: the fill time
	// limit after the session (httporigin's FillTimeout).
	AbortedTimeout uint64
	// Uncached counts objects streamed without a fill because no room
	// could be made for them (every other entry in use).
	Uncached     uint64
	BytesFilled  uint64 // bytes written into the cache
	Evictions    uint64 // entries evicted to make room (bytes or count)
	EvictedBytes uint64 // their bytes
	Swept        uint64 // entries whose leftovers of a dead process were removed
	// Bytes and Entries are the cache's usage as this process's last
	// reservation saw it (0 before any); Cache.Usage scans for the
	// current values.
	Bytes   int64
	Entries int64
}

// Counters returns the Cache's counters.
func (ca *Cache) Counters() CacheCounters {
	c := &ca.ctr
	return CacheCounters{
		FillsStarted: c.fillsStarted.Load(), FillsPublished: c.fillsPublished.Load(), FillsAborted: c.fillsAborted.Load(),
		AbortedBudget: c.abortedBudget.Load(), AbortedTooLarge: c.abortedTooLarge.Load(), AbortedTimeout: c.abortedTimeout.Load(),
		Uncached: c.uncached.Load(), BytesFilled: c.bytesFilled.Load(),
		Evictions: c.evictions.Load(), EvictedBytes: c.evictedBytes.Load(), Swept: c.swept.Load(),
		Bytes: c.bytes.Load(), Entries: c.entries.Load(),
	}
}

// abortGrace bounds how long Abort waits for stopped fills to clean up
// (close the connection, delete their files): they stop at once.
const abortGrace = 5 * time.Second

// Abort stops the cache fills in progress, with cause (which should wrap
// ErrFillTimeout for a time limit, so that they are counted as such), and
// waits a moment for them to delete their temporary files. It returns how
// many it stopped. A worker calls it when the time it gives fills after
// its session has passed (httporigin's Handler.Drain).
func (c *Client) Abort(cause error) int {
	if c.Cache == nil {
		return 0
	}
	ca := c.Cache
	ca.mu.Lock()
	fills := make([]*fill, 0, len(ca.running))
	for fl := range ca.running {
		fills = append(fills, fl)
	}
	ca.mu.Unlock()
	for _, fl := range fills {
		fl.cancel(cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), abortGrace)
	defer cancel()
	c.Wait(ctx)
	return len(fills)
}
