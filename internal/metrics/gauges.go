package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbtftp-go/fbtftp/internal/master"
)

// gaugeCollector reads the master's snapshot once per scrape and exports
// the gauges (and the one counter no Observer event carries).
type gaugeCollector struct {
	src             GaugeSource
	sessionsActive  *prometheus.Desc
	workers         *prometheus.Desc
	maxWorkers      *prometheus.Desc
	handoffFailures *prometheus.Desc
	violations      *prometheus.Desc
	slotsHeld       *prometheus.Desc
	queueLength     *prometheus.Desc
	queueCapacity   *prometheus.Desc
}

func newGaugeCollector(src GaugeSource) *gaugeCollector {
	return &gaugeCollector{
		src: src,
		sessionsActive: prometheus.NewDesc(namespace+"_sessions_active",
			"Requests accepted and not finished yet: being handed off or served by a worker.", nil, nil),
		workers: prometheus.NewDesc(namespace+"_workers",
			"Live worker processes, by state: idle (pooled, waiting for a session) or busy (all others: serving a session, starting or exiting).",
			[]string{"state"}, nil),
		maxWorkers: prometheus.NewDesc(namespace+"_workers_max",
			"The limit of sessions (and so of busy workers) at once in force (--max-workers, or the default sized from the machine); requests beyond it wait in the admission queue (with --busy-error: are refused with \"server busy\").",
			nil, nil),
		handoffFailures: prometheus.NewDesc(namespace+"_handoff_failures_total",
			"Handoffs to a worker that failed (the worker was killed; the request was retried on another or refused).",
			nil, nil),
		violations: prometheus.NewDesc(namespace+"_worker_violations_total",
			"Protocol violations and lies by workers, by kind: early_message (spoke before its Handoff: not used), extra_message (spoke after its Stats, beyond one OriginStats: killed), malformed (killed), implausible_stats (clamped), left_processes (processes alive after it exited: killed).",
			[]string{"kind"}, nil),
		slotsHeld: prometheus.NewDesc(namespace+"_worker_slots_held",
			"Places of --max-workers held: sessions admitted whose worker, or a process it started, is still alive (a worker draining after its session holds its place).",
			nil, nil),
		queueLength: prometheus.NewDesc(namespace+"_queue_length",
			"Requests waiting in the admission queue for a worker slot (beyond --max-workers, or beyond their client's --max-sessions-per-client).",
			nil, nil),
		queueCapacity: prometheus.NewDesc(namespace+"_queue_capacity",
			"The admission queue's bound (--queue-size; 0: no queue).",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessionsActive
	ch <- c.workers
	ch <- c.maxWorkers
	ch <- c.handoffFailures
	ch <- c.violations
	ch <- c.slotsHeld
	ch <- c.queueLength
	ch <- c.queueCapacity
}

// Collect implements prometheus.Collector.
func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Counters()
	// live and the idle pool are read separately: clamp the race.
	idle := max(s.IdleWorkers, 0)
	busy := max(s.LiveWorkers-idle, 0)
	ch <- prometheus.MustNewConstMetric(c.sessionsActive, prometheus.GaugeValue, float64(max(s.Inflight, 0)))
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(idle), "idle")
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(busy), "busy")
	ch <- prometheus.MustNewConstMetric(c.maxWorkers, prometheus.GaugeValue, float64(max(s.MaxWorkers, 0)))
	ch <- prometheus.MustNewConstMetric(c.handoffFailures, prometheus.CounterValue, float64(s.HandoffFailure))
	for _, k := range master.Violations { // every kind, so the series exist at 0
		ch <- prometheus.MustNewConstMetric(c.violations, prometheus.CounterValue, float64(s.Violations[k]), string(k))
	}
	ch <- prometheus.MustNewConstMetric(c.slotsHeld, prometheus.GaugeValue, float64(max(s.SlotsHeld, 0)))
	ch <- prometheus.MustNewConstMetric(c.queueLength, prometheus.GaugeValue, float64(max(s.QueueLength, 0)))
	ch <- prometheus.MustNewConstMetric(c.queueCapacity, prometheus.GaugeValue, float64(max(s.QueueSize, 0)))
}
