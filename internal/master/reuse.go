package master

import (
	"slices"
	"time"

	"go.uber.org/zap"
)

// Worker reuse (Config.SessionsPerWorker > 1).
//
// A worker handed a session with Handoff.Reuse reports Ready once the
// session is over (ipc). Its supervisor then decides, in recycle, whether
// it may serve another one: only if the session ended cleanly (Stats
// accepted, no violation, its deadline not reached), the master is not
// draining or reloading, and what the master reads in /proc says the
// process is back where it started: no more open descriptors than before
// its first session, its resident set within Config.WorkerMaxRSS, and no
// other process in its jail. A worker that fails the memory, descriptor or
// process check is killed; one that is merely not needed is closed (EOF:
// it exits). A worker that may go on joins the idle stack and its
// session's slot is given back; dispatch takes the most recently idle
// worker first (takeWorker), so that the workers that idle longest are
// the ones WorkerIdleTimeout closes.
//
// The master hands a reused worker a session only from the idle state,
// which it reaches only through recycle: a worker that lies about being
// ready (a Ready before its Stats, a second one, anything said while idle)
// is caught by the reader or by dispatch's Pending check and killed, and
// never has two sessions at once.

// reuseOn reports whether workers may serve more than one session.
func (m *Master) reuseOn() bool { return m.cfg.SessionsPerWorker > 1 }

// recycle decides the fate of a worker that reported Ready after a
// session whose Stats were accepted: true if it joined the idle stack
// (its session's slot, key, then given back), false if it was closed or
// killed instead (the caller waits for it to exit).
func (w *worker) recycle(key sessionKey) bool {
	m := w.m
	retire := func(why string, kill bool, fields ...zap.Field) bool {
		if ce := m.log.Check(zap.DebugLevel, "worker not reused"); ce != nil || kill {
			fields = append(fields, zap.Int("worker_pid", w.pid), zap.String("reason", why), zap.Int("sessions", w.sessions))
			if kill {
				m.log.Warn("worker not reused: killed", fields...)
			} else {
				ce.Write(fields...)
			}
		}
		if kill {
			w.kill()
		} else {
			w.close()
		}
		return false
	}
	// The session deadline stops here; a worker closed below gets
	// KillGrace to exit.
	w.mu.Lock()
	if w.killed || (w.timer != nil && !w.timer.Stop()) {
		w.mu.Unlock()
		return false // the deadline's kill is under way
	}
	w.timer = nil
	w.mu.Unlock()
	if w.gen != m.gen.Load() {
		return retire("reloaded", false)
	}
	if max := m.cfg.WorkerMaxRSS; max > 0 {
		if rss, err := procRSS(w.pid); err == nil && rss > max {
			return retire("memory", true, zap.Int64("rss_bytes", rss), zap.Int64("max_rss_bytes", max))
		}
	}
	if w.baseFDs > 0 {
		if n, err := procFDs(w.pid); err == nil && n > w.baseFDs {
			return retire("descriptors", true, zap.Int("open_fds", n), zap.Int("fds_before_first_session", w.baseFDs))
		}
	}
	if others(w.jail, w.pid) {
		return retire("processes", true)
	}
	w.mu.Lock()
	w.handoff, w.state = nil, stateIdle
	w.mu.Unlock()
	m.mu.Lock()
	if m.draining || len(m.idle) >= m.cfg.MaxWorkers {
		m.mu.Unlock()
		return retire("draining", false)
	}
	m.idle = append(m.idle, w)
	w.idleTimer = time.AfterFunc(m.cfg.WorkerIdleTimeout, func() { m.expireIdle(w) })
	m.mu.Unlock()
	m.freeSlot(key) // after the push: the next request finds the worker
	if ce := m.log.Check(zap.DebugLevel, "worker idle"); ce != nil {
		ce.Write(zap.Int("worker_pid", w.pid), zap.Int("sessions", w.sessions))
	}
	return true
}

// popIdle takes the most recently idle reused worker, or nil.
func (m *Master) popIdle() *worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.idle)
	if n == 0 {
		return nil
	}
	w := m.idle[n-1]
	m.idle[n-1] = nil
	m.idle = m.idle[:n-1]
	w.idleTimer.Stop()
	return w
}

// removeIdle takes w off the idle stack; false if it was not on it.
func (m *Master) removeIdle(w *worker) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.Index(m.idle, w)
	if i < 0 {
		return false
	}
	m.idle = slices.Delete(m.idle, i, i+1)
	w.idleTimer.Stop()
	return true
}

// expireIdle closes a reused worker idle for WorkerIdleTimeout.
func (m *Master) expireIdle(w *worker) {
	if m.removeIdle(w) {
		if ce := m.log.Check(zap.DebugLevel, "idle worker closed"); ce != nil {
			ce.Write(zap.Int("worker_pid", w.pid), zap.Int("sessions", w.sessions),
				zap.Duration("worker_idle_timeout", m.cfg.WorkerIdleTimeout))
		}
		w.close()
	}
}

// closeReused closes every idle reused worker; it returns how many.
func (m *Master) closeReused() int {
	m.mu.Lock()
	ws := m.idle
	m.idle = nil
	for _, w := range ws {
		w.idleTimer.Stop()
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.close()
	}
	return len(ws)
}

// idleReused is the number of idle reused workers.
func (m *Master) idleReused() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.idle)
}
