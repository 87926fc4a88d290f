package metrics

import (
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

const namespace = "fbtftp"

// Histogram buckets. Each layout is defined here once; docs/metrics.md lists
// them. Changing one changes the exported series: treat them as API.
var (
	// DurationBuckets (seconds) are for fbtftp_session_duration_seconds:
	// from a refused request (a millisecond) to a large image over a slow
	// link; the session deadline caps the top.
	DurationBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

	// SizeBuckets (bytes) are for fbtftp_transfer_size_bytes: powers of
	// four from 512 B (one default block) to 8 GiB.
	SizeBuckets = prometheus.ExponentialBuckets(512, 4, 13)

	// BlksizeBuckets (bytes) are for fbtftp_blksize_bytes: the RFC 1350
	// default, the values common firmware asks for (1408 PXE ROMs, 1428,
	// 1432 iPXE/U-Boot, 1456 and 1468 = one 1500-byte Ethernet frame) and
	// powers of two up to the RFC 2348 maximum 65464.
	BlksizeBuckets = []float64{256, 512, 1024, 1408, 1428, 1432, 1456, 1468, 2048, 4096, 8192, 16384, 32768, 65464}

	// WindowsizeBuckets (blocks) are for fbtftp_windowsize_blocks:
	// lockstep (1) and powers of two up to the RFC 7440 maximum 65535.
	WindowsizeBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 65535}

	// HandoffBuckets (seconds) are for fbtftp_handoff_seconds: a pooled
	// worker takes tens of microseconds; a request that has to wait for a
	// fresh worker takes as long as a worker start; one that waited in
	// the admission queue, seconds.
	HandoffBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

	// QueueWaitBuckets (seconds) are for fbtftp_queue_wait_seconds: from
	// a moment to beyond the longest firmware retransmit window (iPXE
	// gives up after about 16 s, EDK2 28 s, GRUB 32 s, U-Boot 50 s).
	QueueWaitBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 10, 15, 20, 30, 60}

	// RTTBuckets (seconds) are for fbtftp_session_rtt_seconds: from a
	// loopback round trip (tens of microseconds) through a LAN (under a
	// millisecond) to a slow WAN or a struggling client; the adaptive
	// retransmit timer's floor (20 ms) is one of them.
	RTTBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1}

	// RetransmitBuckets (packets) are for fbtftp_session_retransmits: none,
	// a few lost packets, and sessions that fight a lossy path or a dead
	// client (a session that gives up makes 5 to 9).
	RetransmitBuckets = []float64{0, 1, 2, 5, 10, 20, 50, 100, 1000, 10000}

	// WorkerStartBuckets (seconds) are for fbtftp_worker_start_seconds:
	// exec to the worker's Hello.
	WorkerStartBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

	// OriginLatencyBuckets (seconds) are for
	// fbtftp_origin_request_duration_seconds: request sent to headers
	// received, from a LAN mirror to a slow CDN, up to the 10 s header
	// timeout.
	OriginLatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Label values. Each label has a closed set.
const (
	labelOther   = "other"   // option or code outside the known set
	labelUnknown = "unknown" // op outside RRQ..OACK (or a datagram too short)

	dirSent     = "sent"
	dirReceived = "received"
)

// opLabels is indexed by proto.Opcode; anything else is "unknown".
var opLabels = [...]string{
	proto.OpRRQ:   "rrq",
	proto.OpWRQ:   "wrq",
	proto.OpDATA:  "data",
	proto.OpACK:   "ack",
	proto.OpERROR: "error",
	proto.OpOACK:  "oack",
}

// maxCodeLabel is the highest ERROR code with its own label value (RFC 2347
// code 8); higher codes are counted as code="other".
const maxCodeLabel = proto.ErrOptionRefused

// GaugeSource provides the master's gauges. *master.Master implements it.
// It is read once per scrape (Counters allocates a small map; a scrape
// every few seconds makes that irrelevant).
//
// The interface takes the master's own Snapshot rather than a narrower
// local one because this package imports master anyway (for Observer), so
// the master plugs in as is, and the snapshot also carries HandoffFailure,
// which no Observer event reports.
type GaugeSource interface {
	Counters() master.Snapshot
}

// Metrics is the master's set of series. It implements master.Observer;
// its methods are safe for concurrent use and do not block (SessionFinished
// takes one short mutex for the probe follow-up tracker).
type Metrics struct {
	requests       *prometheus.CounterVec // op, decision
	errorsSent     *prometheus.CounterVec // code
	errorsReceived *prometheus.CounterVec // code

	sessions     *prometheus.CounterVec // op, outcome
	content      *prometheus.CounterVec // source
	duration     prometheus.Histogram
	transferSize *prometheus.HistogramVec // direction
	bytes        *prometheus.CounterVec   // direction
	packets      *prometheus.CounterVec   // direction
	retransmits  prometheus.Counter
	sessionRetx  prometheus.Histogram
	rtt          prometheus.Histogram

	optRequested *prometheus.CounterVec // option
	optAcked     *prometheus.CounterVec // option
	blksize      prometheus.Histogram
	windowsize   prometheus.Histogram

	handoff       prometheus.Histogram
	queueWait     prometheus.Histogram
	queueAdmitted prometheus.Counter
	queueDropped  *prometheus.CounterVec // reason
	spawns        prometheus.Counter
	workerStart   prometheus.Histogram
	spawnFailures prometheus.Counter
	crashes       *prometheus.CounterVec // reason

	originRequests *prometheus.CounterVec // (no label)
	originLatency  prometheus.Histogram
	originErrors   *prometheus.CounterVec // class
	cacheFills     *prometheus.CounterVec // result
	evictions      prometheus.Counter
	evictedBytes   prometheus.Counter
	configReloads  *prometheus.CounterVec // result

	probes *probeTracker
}

var (
	_ master.Observer         = (*Metrics)(nil)
	_ master.OriginObserver   = (*Metrics)(nil)
	_ master.ProgressObserver = (*Metrics)(nil)
	_ master.QueueObserver    = (*Metrics)(nil)
)

// New creates the master's metrics and registers them, with the Go and
// process collectors, on reg. src provides the gauges (sessions active,
// workers by state, handoff failures); nil leaves them out. version is the
// build's version string for fbtftp_build_info ("" means "unknown").
//
// New panics if a series is already registered on reg (a programming
// error, like promauto): give it a fresh registry.
func New(reg prometheus.Registerer, src GaugeSource, version string) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Datagrams read on the listening sockets, by opcode and by what the master did with them.",
		}, []string{"op", "decision"}),
		errorsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "errors_sent_total",
			Help: "TFTP ERROR packets sent, by the master from a listener or by a worker ending its session, by error code.",
		}, []string{"code"}),
		errorsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "errors_received_total",
			Help: "TFTP ERROR packets received from clients that ended a session (UEFI probes included), by error code.",
		}, []string{"code"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sessions_total",
			Help: "Sessions finished, by request opcode and outcome.",
		}, []string{"op", "outcome"}),
		content: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "content_sessions_total",
			Help: "Download sessions that got content, by where it came from: file, template, origin (fetched from an HTTP origin during the session), cache (a complete copy in the HTTP cache), custom.",
		}, []string{"source"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "session_duration_seconds",
			Help:    "Duration of finished sessions, from the worker's start to its report (crashed sessions from the request).",
			Buckets: DurationBuckets,
		}),
		transferSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "transfer_size_bytes",
			Help:    "Payload size of successful transfers, by direction (sent for RRQ, received for WRQ).",
			Buckets: SizeBuckets,
		}, []string{"direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "bytes_total",
			Help: "Payload bytes transferred by sessions, partial transfers included, by direction (sent for RRQ, received for WRQ); counted while sessions run, from their progress reports (about every 500 ms).",
		}, []string{"direction"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "packets_total",
			Help: "Packets sent and received on session sockets (DATA, ACK, OACK, ERROR; retransmissions included), by direction; counted while sessions run.",
		}, []string{"direction"}),
		retransmits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "retransmits_total",
			Help: "Packets (DATA, ACK or OACK) sent again by sessions: after a timeout, or to answer a repeated final block (never because of a duplicate ACK); counted while sessions run.",
		}),
		sessionRetx: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "session_retransmits",
			Help:    "Packets each finished session sent again (DATA, ACK or OACK), for sessions that started a transfer.",
			Buckets: RetransmitBuckets,
		}),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "session_rtt_seconds",
			Help:    "Smoothed round-trip time each session measured between its packets and the client's answers (RFC 6298 SRTT), for sessions that measured one.",
			Buckets: RTTBuckets,
		}),
		optRequested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "options_requested_total",
			Help: "Options named in requests handed to workers, by option (unknown names as \"other\").",
		}, []string{"option"}),
		optAcked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "options_acknowledged_total",
			Help: "Options acknowledged in an OACK, by option.",
		}, []string{"option"}),
		blksize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "blksize_bytes",
			Help:    "Block size in force for sessions that started a transfer (512 unless negotiated).",
			Buckets: BlksizeBuckets,
		}),
		windowsize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "windowsize_blocks",
			Help:    "Window size in force for sessions that started a transfer (1 unless negotiated).",
			Buckets: WindowsizeBuckets,
		}),
		handoff: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "handoff_seconds",
			Help:    "Time from reading a request (its first datagram) to a worker owning its session socket, time in the admission queue included.",
			Buckets: HandoffBuckets,
		}),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "queue_wait_seconds",
			Help:    "Time requests that waited in the admission queue spent there, from their first datagram to getting a worker slot.",
			Buckets: QueueWaitBuckets,
		}),
		queueAdmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "queue_admitted_total",
			Help: "Requests that waited in the admission queue and got a worker slot.",
		}),
		queueDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "queue_dropped_total",
			Help: "Requests the admission queue dropped unanswered, by reason: full (--queue-size), client (the client's share of the queue), timeout (not asked for again within --queue-timeout), shutdown.",
		}, []string{"reason"}),
		spawns: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "worker_spawns_total",
			Help: "Workers started that became ready.",
		}),
		workerStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "worker_start_seconds",
			Help:    "Time from exec to a worker's Hello.",
			Buckets: WorkerStartBuckets,
		}),
		spawnFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "worker_spawn_failures_total",
			Help: "Workers that never became ready.",
		}),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "worker_crashes_total",
			Help: "Workers that exited without reporting stats (reason=crash, idle or busy) or were killed past their deadline (reason=killed).",
		}, []string{"reason"}),
		originRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "origin_requests_total",
			Help: "HTTP requests workers sent to origins (conditional revalidations included).",
		}, nil),
		originLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "origin_request_duration_seconds",
			Help:    "Time from sending a request to an origin to its response headers, for requests that got an answer.",
			Buckets: OriginLatencyBuckets,
		}),
		originErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "origin_errors_total",
			Help: "Failed origin requests and downloads, by class: connect, timeout, status_4xx, status_5xx, status_other, body, too_large.",
		}, []string{"class"}),
		cacheFills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_fills_total",
			Help: "Downloads from origins into the HTTP cache that ended, by result: published (complete, in the cache) or aborted (failed).",
		}, []string{"result"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_evictions_total",
			Help: "HTTP cache entries evicted (least recently used first) to stay under --http-cache-size.",
		}),
		evictedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_evicted_bytes_total",
			Help: "Size of the HTTP cache entries evicted.",
		}),
		configReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "config_reloads_total",
			Help: "Reloads of the map file and template data (SIGHUP), by result: success, or failure (a file unreadable or invalid; the last good configuration stays in force).",
		}, []string{"result"}),
		probes: newProbeTracker(),
	}

	// Pre-initialise the series alerts and dashboards divide by or take
	// rate() of, so they exist (at 0) from the first scrape.
	for _, op := range []string{opLabels[proto.OpRRQ], opLabels[proto.OpWRQ]} {
		for _, d := range master.Decisions {
			m.requests.WithLabelValues(op, string(d))
		}
		for _, o := range stats.Outcomes {
			m.sessions.WithLabelValues(op, string(o))
		}
	}
	for _, d := range []string{dirSent, dirReceived} {
		m.bytes.WithLabelValues(d)
		m.packets.WithLabelValues(d)
	}
	for _, o := range append(append([]string(nil), proto.KnownOptions...), labelOther) {
		m.optRequested.WithLabelValues(o)
		m.optAcked.WithLabelValues(o)
	}
	for _, src := range stats.Sources {
		m.content.WithLabelValues(string(src))
	}
	for _, r := range master.QueueDrops {
		m.queueDropped.WithLabelValues(string(r))
	}
	m.crashes.WithLabelValues("crash")
	m.crashes.WithLabelValues("killed")
	m.originRequests.WithLabelValues()
	for _, c := range stats.OriginErrorLabels {
		m.originErrors.WithLabelValues(c)
	}
	m.cacheFills.WithLabelValues(fillPublished)
	m.cacheFills.WithLabelValues(fillAborted)
	m.configReloads.WithLabelValues("success")
	m.configReloads.WithLabelValues("failure")

	if version == "" {
		version = "unknown"
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels carry the build's version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)

	reg.MustRegister(
		m.requests, m.errorsSent, m.errorsReceived,
		m.sessions, m.content, m.duration, m.transferSize, m.bytes, m.packets, m.retransmits, m.sessionRetx, m.rtt,
		m.optRequested, m.optAcked, m.blksize, m.windowsize,
		m.handoff, m.queueWait, m.queueAdmitted, m.queueDropped, m.spawns, m.workerStart, m.spawnFailures, m.crashes,
		m.originRequests, m.originLatency, m.originErrors, m.cacheFills, m.evictions, m.evictedBytes,
		m.configReloads, m.probes, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if src != nil {
		reg.MustRegister(newGaugeCollector(src))
	}
	return m
}

// ConfigReloaded counts a reload of the configuration files, successful
// or not.
func (m *Metrics) ConfigReloaded(ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.configReloads.WithLabelValues(result).Inc()
}

// Request implements master.Observer. A Decision outside master.Decisions
// (a programming error in the master) is not counted.
func (m *Metrics) Request(op proto.Opcode, d master.Decision) {
	if !validDecision(d) {
		return
	}
	m.requests.WithLabelValues(opLabel(op), string(d)).Inc()
}

// ErrorSent implements master.Observer.
func (m *Metrics) ErrorSent(code proto.ErrorCode) {
	m.errorsSent.WithLabelValues(codeLabel(code)).Inc()
}

// WorkerStarted implements master.Observer.
func (m *Metrics) WorkerStarted(d time.Duration) {
	m.spawns.Inc()
	m.workerStart.Observe(d.Seconds())
}

// WorkerFailed implements master.Observer.
func (m *Metrics) WorkerFailed() { m.spawnFailures.Inc() }

// WorkerCrashed implements master.Observer.
func (m *Metrics) WorkerCrashed(killed bool) {
	reason := "crash"
	if killed {
		reason = "killed"
	}
	m.crashes.WithLabelValues(reason).Inc()
}

// Handoff implements master.Observer.
func (m *Metrics) Handoff(latency time.Duration) { m.handoff.Observe(latency.Seconds()) }

// SessionProgress implements master.ProgressObserver: the growth of a
// running session's counters (bounded by the master), so that bytes,
// packets and retransmits move while transfers run rather than in one
// step when they end. SessionFinished does not count them again.
func (m *Metrics) SessionProgress(op proto.Opcode, d stats.ProgressDelta) {
	if dir := direction(op); dir != "" && d.Bytes > 0 {
		m.bytes.WithLabelValues(dir).Add(float64(d.Bytes))
	}
	if d.PacketsSent > 0 {
		m.packets.WithLabelValues(dirSent).Add(float64(d.PacketsSent))
	}
	if d.PacketsReceived > 0 {
		m.packets.WithLabelValues(dirReceived).Add(float64(d.PacketsReceived))
	}
	if d.Retransmits > 0 {
		m.retransmits.Add(float64(d.Retransmits))
	}
}

// QueueAdmitted implements master.QueueObserver.
func (m *Metrics) QueueAdmitted(wait time.Duration) {
	m.queueAdmitted.Inc()
	m.queueWait.Observe(wait.Seconds())
}

// QueueDropped implements master.QueueObserver. A reason outside
// master.QueueDrops (a programming error) is not counted.
func (m *Metrics) QueueDropped(r master.QueueDrop) {
	if slices.Contains(master.QueueDrops, r) {
		m.queueDropped.WithLabelValues(string(r)).Inc()
	}
}

// SessionFinished implements master.Observer. The stats come from an
// untrusted worker (identity fields excepted, which the master fills): every
// value is mapped into its closed label set and nothing in them can create
// a new series.
func (m *Metrics) SessionFinished(st *stats.SessionStats) {
	if st == nil {
		return
	}
	outcome := outcomeLabel(st.Outcome)
	m.sessions.WithLabelValues(sessionOpLabel(st.Op), string(outcome)).Inc()
	if st.Source != stats.SourceNone && st.Source.Valid() {
		m.content.WithLabelValues(string(st.Source)).Inc()
	}
	if st.Duration >= 0 {
		m.duration.Observe(st.Duration.Seconds())
	}
	// Bytes, packets and retransmits came with SessionProgress (the
	// master gives the last growth just before the session).
	if dir := direction(st.Op); dir != "" && outcome == stats.OutcomeSuccess {
		m.transferSize.WithLabelValues(dir).Observe(float64(st.Bytes))
	}

	switch {
	case outcome == stats.OutcomeClientError || outcome == stats.OutcomeProbe:
		m.errorsReceived.WithLabelValues(codeLabel(st.ErrorCode)).Inc()
	case workerSentError(outcome, st):
		m.errorsSent.WithLabelValues(codeLabel(st.ErrorCode)).Inc()
	}

	for _, o := range st.OptionsRequested {
		m.optRequested.WithLabelValues(optionLabel(o.Name)).Inc()
	}
	for _, o := range st.OptionsAcked {
		m.optAcked.WithLabelValues(optionLabel(o.Name)).Inc()
	}
	// Blksize and Windowsize are set once the transfer engine starts; a
	// session refused before that (not found, crash) has 0.
	if st.Blksize > 0 {
		m.blksize.Observe(float64(st.Blksize))
	}
	if st.Windowsize > 0 {
		m.windowsize.Observe(float64(st.Windowsize))
		m.sessionRetx.Observe(float64(st.Retransmits))
	}
	if st.RTT > 0 {
		m.rtt.Observe(st.RTT.Seconds())
	}
	m.probes.observe(st, outcome)
	m.OriginWork(&st.Origin)
}

// Cache fill results (the result label).
const (
	fillPublished = "published"
	fillAborted   = "aborted"
)

// OriginWork implements master.OriginObserver, and accounts for the origin
// work in a session's stats. The figures come from an untrusted worker:
// they only add to closed series.
func (m *Metrics) OriginWork(o *stats.OriginStats) {
	if o == nil || o.IsZero() {
		return
	}
	m.originRequests.WithLabelValues().Add(float64(o.Requests))
	for _, d := range o.Latencies {
		m.originLatency.Observe(d.Seconds())
	}
	for i, n := range o.Errors {
		if n > 0 {
			m.originErrors.WithLabelValues(stats.OriginErrorLabels[i]).Add(float64(n))
		}
	}
	if o.Fills > 0 {
		m.cacheFills.WithLabelValues(fillPublished).Add(float64(o.Fills))
	}
	if o.AbortedFills > 0 {
		m.cacheFills.WithLabelValues(fillAborted).Add(float64(o.AbortedFills))
	}
	m.evictions.Add(float64(o.Evictions))
	m.evictedBytes.Add(float64(o.EvictedBytes))
}

// workerSentError reports whether the worker sent an ERROR to end the
// session. SessionStats has no explicit flag and ErrorCode 0 is both "none"
// and ERROR 0, so: not_found, access_denied and bad_options always mean an
// ERROR was sent; timeout, server_error and shutdown only when a code or a
// message was recorded (a retry budget running out or a failed socket
// sends nothing; a session deadline or shutdown sends ERROR 0). success,
// probe, client_error and worker_crash never count.
func workerSentError(outcome stats.Outcome, st *stats.SessionStats) bool {
	switch outcome {
	case stats.OutcomeNotFound, stats.OutcomeAccessDenied, stats.OutcomeBadOptions:
		return true
	case stats.OutcomeTimeout, stats.OutcomeServerError, stats.OutcomeShutdown:
		return st.ErrorCode != 0 || st.ErrorMessage != ""
	}
	return false
}

func validDecision(d master.Decision) bool {
	for _, x := range master.Decisions {
		if d == x {
			return true
		}
	}
	return false
}

// opLabel maps an opcode to the op label: rrq..oack, else "unknown".
func opLabel(op proto.Opcode) string {
	if int(op) < len(opLabels) && opLabels[op] != "" {
		return opLabels[op]
	}
	return labelUnknown
}

// sessionOpLabel is opLabel for sessions, which are RRQ or WRQ (the master
// sets Op from the handoff); anything else is "unknown".
func sessionOpLabel(op proto.Opcode) string {
	if op == proto.OpRRQ || op == proto.OpWRQ {
		return opLabels[op]
	}
	return labelUnknown
}

// direction is the payload direction of a session: sent for RRQ, received
// for WRQ, "" otherwise.
func direction(op proto.Opcode) string {
	switch op {
	case proto.OpRRQ:
		return dirSent
	case proto.OpWRQ:
		return dirReceived
	}
	return ""
}

// codeLabel maps an ERROR code to the code label: "0".."8", else "other".
func codeLabel(c proto.ErrorCode) string {
	if c <= maxCodeLabel {
		return strconv.Itoa(int(c))
	}
	return labelOther
}

// optionLabel maps an option name (any case) to the option label: one of
// proto.KnownOptions in its canonical spelling, else "other".
func optionLabel(name string) string {
	for _, k := range proto.KnownOptions {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return labelOther
}

// outcomeLabel maps an outcome to one of stats.Outcomes; a worker reporting
// anything else is a bug on our side: server_error.
func outcomeLabel(o stats.Outcome) stats.Outcome {
	if o.Valid() {
		return o
	}
	return stats.OutcomeServerError
}
