package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

// HTTP server limits for Serve. A scrape is one small GET; anything slower
// or bigger is not Prometheus.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute // above Prometheus' default 1m scrape interval: keep-alive works
	maxHeaderBytes    = 16 << 10
	scrapeTimeout     = 20 * time.Second // promhttp's own limit, below writeTimeout
	maxScrapes        = 4                // concurrent /metrics requests; more get 503
	maxLiveViews      = 4                // concurrent /sessions requests; more get 503
	shutdownTimeout   = 5 * time.Second
)

// Health is what /healthz reports. *master.Master implements it.
type Health interface {
	// Accepting reports whether the master serves requests: false makes
	// /healthz answer 503.
	Accepting() bool
	// QueueSaturated reports whether the admission queue is full (or was
	// in the last seconds): requests are being dropped. /healthz still
	// answers 200, and says so on a second line: a liveness probe that
	// restarted a server in a boot storm would drop every transfer and
	// make the storm longer, and a readiness probe that failed would have
	// kube-proxy cut the sessions in flight.
	QueueSaturated() bool
}

// Handler serves GET /metrics from reg (promhttp.HandlerFor), GET
// /healthz: 200 "ok" while h is accepting (with a second line "admission
// queue saturated" while its queue is), else 503 "unhealthy" (a nil h is
// always healthy), and GET /sessions: the live view sessions() returns,
// as JSON (internal/live; absent when sessions is nil). Other paths are
// 404.
func Handler(reg prometheus.Gatherer, h Health, sessions func() live.Snapshot) http.Handler {
	mux := http.NewServeMux()
	if sessions != nil {
		mux.Handle("GET /sessions", sessionsHandler(sessions))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError, // a failing collector must not hide the others
		MaxRequestsInFlight: maxScrapes,
		Timeout:             scrapeTimeout,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if h != nil && !h.Accepting() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unhealthy")
			return
		}
		fmt.Fprintln(w, "ok")
		if h != nil && h.QueueSaturated() {
			fmt.Fprintln(w, "admission queue saturated")
		}
	})
	return mux
}

// sessionsHandler serves GET /sessions: one snapshot of the live view as
// JSON. The snapshot is as big as the sessions running (bounded by the
// master's worker limit); at most maxLiveViews are built at once, more
// requests get 503 (fbtftp-top polls once a second or slower).
func sessionsHandler(sessions func() live.Snapshot) http.Handler {
	sem := make(chan struct{}, maxLiveViews)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			http.Error(w, "too many concurrent requests", http.StatusServiceUnavailable)
			return
		}
		b, err := json.Marshal(sessions())
		if err != nil { // cannot happen: plain fields
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(b, '\n'))
	})
}

// Serve listens on addr (host:port; port 0 picks one) and serves h until
// ctx ends, then shuts down gracefully (in-flight scrapes get
// shutdownTimeout, then connections are closed). It returns once the
// listener is bound, with its address; serving goes on in the background.
func Serve(ctx context.Context, addr string, h http.Handler) (net.Addr, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w", err)
	}
	ServeListener(ctx, ln, h)
	return ln.Addr(), nil
}

// ServeListener serves h on ln (bound already: one handed over by the
// master this one took over from) until ctx ends, as Serve; it closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	go func() {
		// Serve returns ErrServerClosed after Shutdown; any other error
		// means the listener failed, and nothing is left to do but stop.
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.Close()
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
}
