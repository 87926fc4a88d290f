package tftp

import "time"

// OriginError classifies a failed request to an HTTP origin, or a failed
// download from one. The set is closed: it is a metric label.
type OriginError int

// The origin error classes.
const (
	OriginConnect     OriginError = iota // DNS, connect, TLS or proxy failure, or the connection broke before the headers
	OriginTimeout                        // no headers within the header timeout, or a body read waited past the idle timeout
	OriginStatus4xx                      // a 4xx answer (404 and 403 included: they are answered as TFTP errors 1 and 2)
	OriginStatus5xx                      // a 5xx answer
	OriginStatusOther                    // any other unexpected status (1xx, 2xx other than 200, 3xx not followed)
	OriginBody                           // the body broke, or ended before its Content-Length
	OriginTooLarge                       // over the configured maximum object size
	NumOriginErrors                      // the number of classes
)

// MaxOriginLatencies bounds the request latencies one report carries (a
// session sends one request, a redirect chain counts as one); the count
// goes on in OriginStats.Requests.
const MaxOriginLatencies = 16

// OriginStats is the work a handler did with HTTP origins and an on-disk
// cache (fbtftp.OriginReporter): in a session's SessionStats, what happened
// up to the session's end; in a later report, what the worker did after it
// (a cache fill the client did not wait for, and the eviction that
// followed). The master turns it into metrics; nothing in it names an
// origin, a URL or a file.
type OriginStats struct {
	Requests     uint64                  // requests sent to origins (a conditional GET included)
	Latencies    []time.Duration         // of the first MaxOriginLatencies of them: request sent to headers received
	Errors       [NumOriginErrors]uint64 // failed requests and downloads, by class
	Fills        uint64                  // cache fills completed and published
	AbortedFills uint64                  // cache fills that failed or were not published
	Evictions    uint64                  // cache entries evicted to stay under the cache size
	EvictedBytes uint64                  // their data's size
}

// IsZero reports whether s records nothing.
func (s *OriginStats) IsZero() bool {
	if s.Requests != 0 || len(s.Latencies) != 0 || s.Fills != 0 || s.AbortedFills != 0 || s.Evictions != 0 || s.EvictedBytes != 0 {
		return false
	}
	for _, n := range s.Errors {
		if n != 0 {
			return false
		}
	}
	return true
}
