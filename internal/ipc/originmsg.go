package ipc

import (
	"fmt"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// origin writes the origin block that ends a Stats message and makes up
// an OriginStats message (see the package documentation).
func (w *writer) origin(o *stats.OriginStats) {
	if uint64(len(o.Latencies)) > o.Requests {
		w.fail("origin_latencies", fmt.Sprintf("%d latencies for %d requests", len(o.Latencies), o.Requests))
		return
	}
	w.uvarint(o.Requests)
	w.count("origin_latencies", len(o.Latencies), stats.MaxOriginLatencies)
	for _, d := range o.Latencies {
		w.duration("origin_latencies", d)
	}
	for _, n := range o.Errors {
		w.uvarint(n)
	}
	w.uvarint(o.Fills)
	w.uvarint(o.AbortedFills)
	w.uvarint(o.Evictions)
	w.uvarint(o.EvictedBytes)
}

func (r *reader) origin() stats.OriginStats {
	var o stats.OriginStats
	o.Requests = r.uvarint("origin_requests")
	n := r.bounded("origin_latencies", stats.MaxOriginLatencies)
	if r.err == nil && n > o.Requests {
		r.fail("origin_latencies", fmt.Sprintf("%d latencies for %d requests", n, o.Requests))
	}
	if r.err != nil {
		return stats.OriginStats{}
	}
	if n > 0 {
		o.Latencies = make([]time.Duration, 0, n)
		for range n {
			o.Latencies = append(o.Latencies, r.duration("origin_latencies"))
		}
	}
	for i := range o.Errors {
		o.Errors[i] = r.uvarint("origin_errors")
	}
	o.Fills = r.uvarint("origin_fills")
	o.AbortedFills = r.uvarint("origin_aborted_fills")
	o.Evictions = r.uvarint("origin_evictions")
	o.EvictedBytes = r.uvarint("origin_evicted_bytes")
	if r.err != nil {
		return stats.OriginStats{}
	}
	return o
}

// AppendOriginStats appends an OriginStats message: what a worker did
// with origins and the cache after its session's Stats (a cache fill the
// client did not wait for, the eviction after it). It fails, leaving b as
// it was, when the latencies outnumber the requests or exceed
// stats.MaxOriginLatencies.
func AppendOriginStats(b []byte, o *stats.OriginStats) ([]byte, error) {
	w := writer{b: b, msg: "origin stats"}
	start := len(b)
	w.byte1(msgOrigin)
	w.origin(o)
	return w.finish(start)
}

// DecodeOriginStats decodes an OriginStats message. The master calls it on
// what a worker sent: every error wraps ErrMalformed. An empty latency
// list decodes as nil.
func DecodeOriginStats(b []byte) (*stats.OriginStats, error) {
	r := reader{b: b, msg: "origin stats"}
	r.start(msgOrigin)
	o := r.origin()
	if err := r.done(); err != nil {
		return nil, err
	}
	return &o, nil
}

// SendOriginStats sends an OriginStats message (worker side), at most once
// per worker and only after SendStats.
func (c *Conn) SendOriginStats(o *stats.OriginStats) error {
	if o == nil {
		return fmt.Errorf("%w: origin stats: missing stats", ErrInvalid)
	}
	return c.sendMsg(func(b []byte) ([]byte, error) { return AppendOriginStats(b, o) }, nil)
}

// RecvOriginStats receives a worker's OriginStats message, with the same
// distrust as RecvStats. EOF (the worker exited without one) is an error
// wrapping io.EOF.
func (c *Conn) RecvOriginStats() (*stats.OriginStats, error) {
	b, _, err := c.recvMsg(false)
	if err != nil {
		return nil, c.wrapErr("recv origin stats", err)
	}
	return DecodeOriginStats(b)
}
