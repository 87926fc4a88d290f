package master

import (
	"sync/atomic"

	"go.uber.org/zap"
)

// Violation is a way a worker broke the master<->worker protocol or lied
// in its Stats. The set is closed: it is a metric label
// (fbtftp_worker_violations_total{kind}).
type Violation string

// The violations.
const (
	// ViolationEarlyMessage: a message queued before the Handoff, or
	// Stats that do not name the session handed over (written before the
	// Handoff arrived). The worker is killed; such Stats never count.
	ViolationEarlyMessage Violation = "early_message"
	// ViolationExtraMessage: a message after the worker's Stats other
	// than one OriginStats (one session, one Stats, at most one late
	// origin report). The worker is killed; the session keeps the first
	// Stats.
	ViolationExtraMessage Violation = "extra_message"
	// ViolationMalformed: a message that does not decode (oversized,
	// truncated, carrying descriptors). The worker is killed.
	ViolationMalformed Violation = "malformed"
	// ViolationImplausibleStats: Stats, or an OriginStats report, outside
	// what the session could have done (boundStats, boundOrigin); the
	// values are clamped before they are counted.
	ViolationImplausibleStats Violation = "implausible_stats"
	// ViolationLeftProcesses: processes alive in the worker's jail after
	// it exited. They are killed; the slot is held until they are gone.
	ViolationLeftProcesses Violation = "left_processes"
	// ViolationSessionSocket: in single-port mode, a session socket no
	// longer connected to its client (the worker connected it elsewhere,
	// or disconnected it: an unconnected socket on the listening port
	// would take the listener's requests). The worker is killed and the
	// socket closed.
	ViolationSessionSocket Violation = "session_socket"
	// ViolationProgressRate: Progress reports faster than the master
	// takes them (progressRate per second, bursts of progressBurst; an
	// honest worker sends two a second). The worker is killed.
	ViolationProgressRate Violation = "progress_rate"
)

// Violations lists every Violation.
var Violations = []Violation{ViolationEarlyMessage, ViolationExtraMessage, ViolationMalformed,
	ViolationImplausibleStats, ViolationLeftProcesses, ViolationSessionSocket, ViolationProgressRate}

// violationCounters counts violations by kind, in Violations order.
type violationCounters [7]atomic.Uint64

func (v *violationCounters) snapshot() map[Violation]uint64 {
	out := make(map[Violation]uint64, len(Violations))
	for i, k := range Violations {
		out[k] = v[i].Load()
	}
	return out
}

// violation counts and logs a worker's violation.
func (m *Master) violation(kind Violation, w *worker, fields ...zap.Field) {
	for i, k := range Violations {
		if k == kind {
			m.violations[i].Add(1)
		}
	}
	fields = append(fields, zap.String("violation", string(kind)), zap.Int("worker_pid", w.pid))
	if id := w.sessionID(); id != "" {
		fields = append(fields, zap.String("session_id", id))
	}
	m.log.Warn("worker violated the protocol", fields...)
}
