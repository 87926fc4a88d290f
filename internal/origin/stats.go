package origin

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// counters accumulates a Client's origin work until TakeStats. The zero
// value is ready. Events are rare (per request, per fill): a mutex is
// enough.
type counters struct {
	mu sync.Mutex
	s  stats.OriginStats
}

// TakeStats returns what the Client did with origins and its cache since
// the last call (or its creation) and starts counting again: requests and
// their latencies (request sent to headers received), failures by class,
// cache fills published or aborted, evictions. A worker reports it to the
// master, which exports it as metrics.
func (c *Client) TakeStats() stats.OriginStats {
	c.counters.mu.Lock()
	defer c.counters.mu.Unlock()
	s := c.counters.s
	c.counters.s = stats.OriginStats{}
	return s
}

// request counts a request sent, with the time to its headers, or its
// failure.
func (c *counters) request(d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Requests++
	if err != nil {
		c.s.Errors[classify(err, stats.OriginConnect)]++
		return
	}
	if len(c.s.Latencies) < stats.MaxOriginLatencies {
		c.s.Latencies = append(c.s.Latencies, d)
	}
}

// fail counts a failure after the headers: a status, an object too large,
// a body that broke (def: the class when nothing more precise is known).
func (c *counters) fail(err error, def stats.OriginError) {
	c.mu.Lock()
	c.s.Errors[classify(err, def)]++
	c.mu.Unlock()
}

// fill counts a cache fill's end: published, or aborted (not published)
// with err, which is also counted by class when it is the origin's
// failure, not one of the cache's own limits (the size bound, the fill
// time limit: the origin did nothing wrong).
func (c *counters) fill(published bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case published:
		c.s.Fills++
		return
	}
	c.s.AbortedFills++
	if err != nil && !errors.Is(err, errOversize) && !errors.Is(err, errNoRoom) && !errors.Is(err, ErrFillTimeout) {
		c.s.Errors[classify(err, stats.OriginBody)]++
	}
}

// evicted counts cache entries removed to make room.
func (c *counters) evicted(n int, bytes int64) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.s.Evictions += uint64(n)
	c.s.EvictedBytes += uint64(max(bytes, 0))
	c.mu.Unlock()
}

// statusCause is the cause of a statusError: the final HTTP status.
type statusCause struct {
	code   int
	status string
}

func (s *statusCause) Error() string { return "status " + quote(s.status) }

func quote(s string) string { return `"` + s + `"` }

// classify maps a failure to its class; def when nothing in it says more.
func classify(err error, def stats.OriginError) stats.OriginError {
	var sc *statusCause
	var ne net.Error
	switch {
	case errors.As(err, &sc):
		switch {
		case sc.code >= 400 && sc.code < 500:
			return stats.OriginStatus4xx
		case sc.code >= 500 && sc.code < 600:
			return stats.OriginStatus5xx
		}
		return stats.OriginStatusOther
	case errors.Is(err, ErrTooLarge):
		return stats.OriginTooLarge
	case errors.Is(err, ErrHeaderTimeout), errors.Is(err, ErrIdleTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return stats.OriginTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return stats.OriginBody
	}
	return def
}
