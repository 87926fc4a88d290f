package server

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// ServerStats are server-wide counters, handed to Server.ServerStats every
// StatsInterval. Counters cover the interval since the previous call (they
// are read and reset atomically); gauges are current values.
type ServerStats struct {
	Start    time.Time     // when the server started
	Uptime   time.Duration // since Start
	Interval time.Duration // covered by the counters below

	Requests, Accepted, Malformed, Rejected, Busy, Duplicates uint64
	// Dropped counts requests the admission queue dropped unanswered (full,
	// or waited until their client stopped asking); QueueAdmitted the ones
	// that waited there and got a worker.
	Dropped, QueueAdmitted                            uint64
	Sessions                                          map[tftp.Outcome]uint64
	BytesSent, BytesReceived, Retransmits, ErrorsSent uint64
	WorkerSpawns, WorkerSpawnFailures, WorkerCrashes  uint64

	SessionsActive, LiveWorkers, IdleWorkers int64
	// QueueLength is the number of requests waiting in the admission queue.
	QueueLength int64
}

// reportServerStats calls ServerStats every interval until done, and once
// at the end.
func (s *Server) reportServerStats(log *zap.Logger, m *master.Master, c *master.ServerCounters, done <-chan struct{}) {
	if s.ServerStats == nil {
		return
	}
	interval := s.StatsInterval
	if interval <= 0 {
		interval = time.Minute
	}
	start := time.Now()
	last := start
	report := func() {
		now := time.Now()
		t := c.Take(true)
		g := m.Counters()
		st := &ServerStats{
			Start: start, Uptime: now.Sub(start), Interval: now.Sub(last),
			Requests: t.Requests, Accepted: t.Accepted, Malformed: t.Malformed, Rejected: t.Rejected,
			Busy: t.Busy, Duplicates: t.Duplicates, Sessions: t.Sessions,
			Dropped: t.Dropped, QueueAdmitted: t.QueueAdmitted, QueueLength: g.QueueLength,
			BytesSent: t.BytesSent, BytesReceived: t.BytesReceived, Retransmits: t.Retransmits,
			ErrorsSent: t.ErrorsSent, WorkerSpawns: t.WorkerSpawns, WorkerSpawnFailures: t.WorkerSpawnFailures,
			WorkerCrashes:  t.WorkerCrashes,
			SessionsActive: g.Inflight, LiveWorkers: g.LiveWorkers, IdleWorkers: g.IdleWorkers,
		}
		last = now
		safely(log, "server stats callback", func() { s.ServerStats(st) })
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			report()
		case <-done:
			report()
			return
		}
	}
}

// safely runs a user callback, logging instead of dying on a panic.
func safely(log *zap.Logger, what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			log.Error(what+" panicked", zap.String("panic", fmt.Sprint(p)))
		}
	}()
	f()
}
