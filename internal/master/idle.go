package master

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/remap"
)

// Reload makes the sessions that follow run with a new configuration, in
// freshly started workers: wc (ipc.SealWorkerConfig, now owned by the
// master) replaces the workers' configuration and rules the master's copy
// of its remap rules. It closes the idle workers of the warm pool, which
// the refillers replace, and marks every worker started before the call as
// stale, so one still starting (or serving a session, with
// SessionsPerWorker) is closed instead of being used again. Sessions
// in flight are not disturbed. It returns the number of idle workers
// closed. The server calls it on SIGHUP, as in.tftpd rereads its map file.
func (m *Master) Reload(wc *os.File, rules *remap.Rules) int {
	m.wcMu.Lock()
	old := m.wc
	m.wc = wc
	m.wcMu.Unlock()
	old.Close() // workers started before have their own copy
	m.rules.Store(rules)
	m.gen.Add(1)
	n := m.closeReused()
	for range cap(m.pool) {
		select {
		case w := <-m.pool:
			m.slots <- struct{}{} // the refillers start a replacement
			w.close()
			n++
		default:
			return n
		}
	}
	return n
}

// watchIdle calls stop once no request has been read and no session has
// been in flight for IdleTimeout (in.tftpd -t in inetd mode). It returns
// when ctx ends.
func (m *Master) watchIdle(ctx context.Context, stop func()) {
	tick := min(max(m.cfg.IdleTimeout/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	seen, since := m.totals.requests.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := m.totals.requests.Load(); n != seen || m.inflight.Load() > 0 {
				seen, since = n, now
				continue
			}
			if now.Sub(since) >= m.cfg.IdleTimeout {
				m.log.Info("idle timeout", zap.Duration("idle_timeout", m.cfg.IdleTimeout))
				stop()
				return
			}
		}
	}
}
