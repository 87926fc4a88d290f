package fbtftp

import (
	"context"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Handler resolves a request to content. ServeTFTP runs in the session's
// worker process, after the sandbox (chroot, unprivileged user) is in
// place. It returns the data to send, or an error that becomes the ERROR
// packet (see WireError). ctx ends when the session must stop.
//
// Uploads (WRQ) are given to handlers that also implement WriteHandler;
// others answer them with ERROR 2.
//
// A Handler that wraps another (to filter names, rewrite Path, log)
// returns the wrapped one from a method
//
//	Unwrap() Handler
//
// so that ServeWorker still finds the optional interfaces, WriteHandler,
// Drainer and OriginReporter, of the handler inside, as net/http's ResponseController
// finds a wrapped ResponseWriter's Flusher: ServeWorker looks at the
// outermost handler, then at what each Unwrap returns. The outermost
// implementation wins, so a wrapper that restricts downloads and wraps a
// WriteHandler implements WriteHandler itself when uploads must go through
// the same checks.
type Handler interface {
	ServeTFTP(ctx context.Context, r *Request) (ResponseData, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) (ResponseData, error)

// ServeTFTP calls f(ctx, r).
func (f HandlerFunc) ServeTFTP(ctx context.Context, r *Request) (ResponseData, error) {
	return f(ctx, r)
}

// Drainer is implemented by handlers whose sessions can start work that
// outlives them: a cache fill that goes on after a UEFI client ended its
// size probe, so that its next request finds the object complete. After a
// session's stats are reported, ServeWorker calls Drain and returns when
// it does. ctx ends at the session deadline, when the master goes away or
// when the master stops it (at its shutdown, by closing its end of the
// socketpair) or when the worker's own context is cancelled; the master accounts
// for the session before Drain runs, and counts the process among its
// workers until it exits. A handler that wraps another either forwards
// Drain or has an Unwrap method (see Handler).
type Drainer interface {
	Drain(ctx context.Context) error
}

// OriginReporter is implemented by handlers that fetch from HTTP origins
// (httporigin.Handler). ServeWorker takes the figures once the session is
// over (they go with the session's stats) and again after Drain (work the
// session started but did not wait for); the master exports them as
// Prometheus metrics (fbtftp_origin_*, fbtftp_cache_*). TakeOriginStats
// returns what happened since the last call and starts counting again. A
// handler that wraps one forwards it or has an Unwrap method (see Handler).
type OriginReporter interface {
	TakeOriginStats() tftp.OriginStats
}

// maxUnwrap bounds the chain of Unwrap calls (a wrapper returning itself
// must not hang the worker).
const maxUnwrap = 32

// implementation returns the first of h and the handlers its Unwrap chain
// returns that implements T.
func implementation[T any](h Handler) (T, bool) {
	for range maxUnwrap {
		if t, ok := h.(T); ok {
			return t, true
		}
		u, ok := h.(interface{ Unwrap() Handler })
		if !ok {
			break
		}
		if h = u.Unwrap(); h == nil {
			break
		}
	}
	var zero T
	return zero, false
}
