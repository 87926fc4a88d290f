package master

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Accepting reports whether the master is serving requests: its listeners
// run, it is not draining, and workers start (the last attempt to start
// one did not fail). /healthz answers from it.
func (m *Master) Accepting() bool {
	select {
	case <-m.started:
	default:
		return false
	}
	if m.spawnFailing.Load() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.draining
}

// spawnFailed records a worker that could not be started (or never said
// Hello): the master is unhealthy until one starts again.
func (m *Master) spawnFailed() {
	m.obs.WorkerFailed()
	if !m.spawnFailing.Swap(true) {
		select {
		case m.healSpawns <- struct{}{}:
		default:
		}
	}
}

func (m *Master) spawnSucceeded() {
	if m.spawnFailing.Swap(false) {
		m.log.Info("workers start again")
	}
}

// healSpawnInterval is how often a master whose workers fail to start
// tries again on its own.
const healSpawnInterval = time.Second

// healSpawnsLoop tries, while worker starts fail, to start one every
// healSpawnInterval, so that the health turns good again without waiting
// for a client (a load balancer that took the master out sends none). With
// Prefork, the pool's refillers already retry; this stays idle.
func (m *Master) healSpawnsLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.healSpawns:
		}
		for m.spawnFailing.Load() && m.cfg.Prefork == 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(healSpawnInterval):
			}
			if m.live.Load() >= int64(m.cfg.MaxWorkers) {
				continue
			}
			w, err := m.spawn(true)
			if err != nil {
				m.log.Debug("worker start still failing", zap.Error(err))
				continue
			}
			w.close() // it only had to start
		}
	}
}

// slotsHeld is Snapshot.SlotsHeld.
func (m *Master) slotsHeld() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(m.held)
}
