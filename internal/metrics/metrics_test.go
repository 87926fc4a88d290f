package metrics

import (
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

const testVersion = "v1.2.3-test"

// fakeSource is a GaugeSource with fixed values.
type fakeSource struct{ s master.Snapshot }

func (f fakeSource) Counters() master.Snapshot { return f.s }

// fakeClock is a settable clock for the probe tracker.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// newTest returns Metrics on a fresh registry with fixed gauges and a fake
// clock.
func newTest(t testing.TB) (*Metrics, *prometheus.Registry, *fakeClock) {
	t.Helper()
	reg := prometheus.NewRegistry()
	src := fakeSource{master.Snapshot{LiveWorkers: 5, IdleWorkers: 2, Inflight: 3, HandoffFailure: 1, MaxWorkers: 1024}}
	m := New(reg, src, testVersion)
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	m.probes.now = clk.now
	return m, reg, clk
}

// onlyFbtftp hides the go_ and process_ families, whose values vary.
type onlyFbtftp struct{ g prometheus.Gatherer }

func (o onlyFbtftp) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := o.g.Gather()
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), namespace+"_") {
			out = append(out, mf)
		}
	}
	return out, err
}

func opts(kv ...string) []proto.Option {
	var o []proto.Option
	for i := 0; i+1 < len(kv); i += 2 {
		o = append(o, proto.Option{Name: kv[i], Value: kv[i+1]})
	}
	return o
}

func peer(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// feedSequence drives m through a fixed sequence of master events and
// sessions covering every series. The expected values are worked out in
// expectedExposition.
func feedSequence(m *Metrics, clk *fakeClock) {
	// Workers: two ready (3 ms and 40 ms), one never ready, one idle
	// worker crashed, one killed past its deadline.
	m.WorkerStarted(3 * time.Millisecond)
	m.WorkerStarted(40 * time.Millisecond)
	m.WorkerFailed()
	m.WorkerCrashed(false)
	m.WorkerCrashed(true)

	// Listener traffic.
	for range 7 {
		m.Request(proto.OpRRQ, master.DecisionAccepted)
	}
	m.Request(proto.OpWRQ, master.DecisionAccepted)
	m.Request(proto.OpWRQ, master.DecisionRejected) // uploads disabled
	m.ErrorSent(proto.ErrAccessViolation)
	m.Request(proto.OpRRQ, master.DecisionBusy)
	m.ErrorSent(proto.ErrUndefined)
	m.Request(proto.OpRRQ, master.DecisionDuplicate)
	m.Request(0, master.DecisionMalformed) // too short for an opcode
	m.Request(proto.OpACK, master.DecisionMalformed)
	m.Request(99, master.DecisionMalformed)
	m.Request(proto.OpRRQ, master.Decision("bogus")) // not counted

	m.Handoff(200 * time.Microsecond)
	m.Handoff(3 * time.Millisecond)
	m.Handoff(2 * time.Second)

	// The admission queue: two requests waited (0.3 s and 7 s) and got
	// a slot, one was dropped as the queue was full, one timed out.
	m.QueueAdmitted(300 * time.Millisecond)
	m.QueueAdmitted(7 * time.Second)
	m.Request(proto.OpRRQ, master.DecisionDropped)
	m.QueueDropped(master.QueueDropFull)
	m.Request(proto.OpRRQ, master.DecisionDropped)
	m.QueueDropped(master.QueueDropTimeout)
	m.QueueDropped("bogus") // not counted

	// 1. UEFI probe of bootx64.efi.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.1:1001"), Filename: "bootx64.efi", Op: proto.OpRRQ,
		OptionsRequested: opts("tsize", "0", "blksize", "1468"),
		OptionsAcked:     opts("tsize", "123456", "blksize", "1468"),
		Blksize:          1468, Windowsize: 1, Tsize: 123456,
		PacketsSent: 1, PacketsReceived: 1,
		Outcome: stats.OutcomeProbe, Source: stats.SourceOrigin, ErrorCode: proto.ErrOptionRefused, ErrorMessage: "tsize only",
		Duration: 8 * time.Millisecond,
	})
	// 2. Its follow-up download from another port: 85 DATA blocks (84 *
	// 1468 + 144) plus the OACK, 2 retransmits; ACK 0..85 received.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.1:1002"), Filename: "bootx64.efi", Op: proto.OpRRQ,
		OptionsRequested: opts("BLKSIZE", "1468", "windowsize", "8", "tsize", "0", "x-vendor", "1"),
		OptionsAcked:     opts("BLKSIZE", "1468", "windowsize", "8", "tsize", "123456"),
		Blksize:          1468, Windowsize: 8, Tsize: 123456,
		PacketsSent: 88, PacketsReceived: 86, Bytes: 123456, Retransmits: 2, RTT: 300 * time.Microsecond,
		Outcome: stats.OutcomeSuccess, Source: stats.SourceCache, Duration: 150 * time.Millisecond,
		// Two requests: one answered in 30 ms, one 502.
		Origin: stats.OriginStats{Requests: 2, Latencies: []time.Duration{30 * time.Millisecond},
			Errors: [stats.NumOriginErrors]uint64{stats.OriginStatus5xx: 1}},
	})
	// 3. Not found: the worker sends ERROR 1 before any transfer.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.2:2000"), Filename: "missing.cfg", Op: proto.OpRRQ,
		PacketsSent: 1, Outcome: stats.OutcomeNotFound,
		ErrorCode: proto.ErrNotFound, ErrorMessage: "File not found", Duration: 700 * time.Microsecond,
	})
	// 4. Worker crash (stats made by the master).
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.3:3000"), Filename: "kernel", Op: proto.OpRRQ,
		OptionsRequested: opts("blksize", "1024"), Tsize: -1,
		Outcome: stats.OutcomeWorkerCrash, Duration: 5 * time.Second,
	})
	// 5. WRQ success: 1000 bytes in 2 DATA, ACK 0..2 sent.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.4:4000"), Filename: "upload.bin", Op: proto.OpWRQ,
		Blksize: 512, Windowsize: 1, Tsize: -1,
		PacketsSent: 3, PacketsReceived: 2, Bytes: 1000, RTT: 80 * time.Microsecond,
		Outcome: stats.OutcomeSuccess, Duration: 40 * time.Millisecond,
	})
	// 6. Retry budget exhausted after one block: no ERROR sent.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.5:5000"), Filename: "pxelinux.0", Op: proto.OpRRQ,
		Blksize: 512, Windowsize: 1, Tsize: -1,
		PacketsSent: 7, PacketsReceived: 1, Bytes: 512, Retransmits: 5, RTT: 25 * time.Millisecond,
		Outcome: stats.OutcomeTimeout, Duration: 25 * time.Second,
	})
	// 7. Shutdown: ERROR 0 sent.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.6:6000"), Filename: "pxelinux.0", Op: proto.OpRRQ,
		Blksize: 512, Windowsize: 1, Tsize: -1,
		PacketsSent: 3, PacketsReceived: 1, Bytes: 512,
		Outcome: stats.OutcomeShutdown, ErrorCode: proto.ErrUndefined, ErrorMessage: "server shutting down",
		Duration: 1 * time.Second,
	})
	// 8. The client aborted with ERROR 0.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.8:8000"), Filename: "pxelinux.0", Op: proto.OpRRQ,
		Blksize: 512, Windowsize: 1, Tsize: -1,
		PacketsSent: 1, PacketsReceived: 1,
		Outcome: stats.OutcomeClientError, ErrorCode: proto.ErrUndefined, ErrorMessage: "user abort",
		Duration: 20 * time.Millisecond,
	})
	// 9. A worker reporting nonsense: unknown outcome (-> server_error),
	// code 300 (-> other), bogus block and window sizes.
	finish(m, &stats.SessionStats{
		Peer: peer("10.0.0.9:9000"), Filename: "x", Op: proto.OpRRQ,
		Blksize: 100000, Windowsize: 70000,
		Outcome: stats.Outcome("exploded"), Source: stats.Source("/etc/passwd"), ErrorCode: 300, ErrorMessage: "?",
		Duration: 2 * time.Millisecond,
	})
	// 10. A probe of grubx64.efi whose download never comes.
	finish(m, &stats.SessionStats{
		Peer: peer("[::ffff:10.0.0.7]:7000"), Filename: "grubx64.efi", Op: proto.OpRRQ,
		OptionsRequested: opts("tsize", "0"), OptionsAcked: opts("tsize", "4096"),
		Blksize: 512, Windowsize: 1, Tsize: 4096,
		PacketsSent: 1, PacketsReceived: 1,
		Outcome: stats.OutcomeProbe, ErrorCode: proto.ErrOptionRefused, Duration: 3 * time.Millisecond,
	})
	m.SessionFinished(nil) // ignored

	// Origin work after session 2 (the late report): the fill it
	// started, published, and an eviction; an aborted fill cut short by
	// a timeout.
	m.OriginWork(&stats.OriginStats{Fills: 1, AbortedFills: 1, Evictions: 1, EvictedBytes: 5000,
		Errors: [stats.NumOriginErrors]uint64{stats.OriginTimeout: 1}})
	m.OriginWork(nil) // ignored

	clk.t = clk.t.Add(ProbeFollowupWindow + time.Second)
}

// expectedExposition is the fbtftp_ exposition after feedSequence:
//
//	sessions:   rrq: probe 2, success 1, not_found 1, worker_crash 1,
//	            timeout 1, shutdown 1, client_error 1, server_error 1;
//	            wrq: success 1.
//	duration:   8ms 150ms 0.7ms 5s 40ms 25s 1s 20ms 2ms 3ms (sum 31.2237 s, as
//	            float64: 31.223699999999997; worker start 0.003+0.04 likewise).
//	bytes:      sent 123456+512+512 = 124480; received 1000.
//	packets:    sent 1+88+1+0+3+7+3+1+0+1 = 105; received 1+86+0+0+2+1+1+1+0+1 = 93.
//	errors:     sent: master 2 and 0; workers 1 (not_found), 0 (shutdown),
//	            other (nonsense) -> 0:2 1:1 2:1 other:1; the timeout sent
//	            nothing. Received: 8 (two probes), 0 (client).
//	queue:      2 admitted (0.3 s, 7 s), dropped full 1, timeout 1 (and
//	            requests_total{decision="dropped"} 2); the fake source's
//	            queue is 0 long, 0 big.
//	options:    requested tsize 3, blksize 2 (+1 BLKSIZE), windowsize 1,
//	            other 1; acked tsize 3, blksize 2, windowsize 1.
//	blksize:    1468 1468 512 512 512 512 100000 512 (sum 105496).
//	windowsize: 1 8 1 1 1 1 70000 1 (sum 70014).
//	probes:     bootx64.efi followed by success; grubx64.efi none.
const expectedExposition = `
# HELP fbtftp_blksize_bytes Block size in force for sessions that started a transfer (512 unless negotiated).
# TYPE fbtftp_blksize_bytes histogram
fbtftp_blksize_bytes_bucket{le="256"} 0
fbtftp_blksize_bytes_bucket{le="512"} 5
fbtftp_blksize_bytes_bucket{le="1024"} 5
fbtftp_blksize_bytes_bucket{le="1408"} 5
fbtftp_blksize_bytes_bucket{le="1428"} 5
fbtftp_blksize_bytes_bucket{le="1432"} 5
fbtftp_blksize_bytes_bucket{le="1456"} 5
fbtftp_blksize_bytes_bucket{le="1468"} 7
fbtftp_blksize_bytes_bucket{le="2048"} 7
fbtftp_blksize_bytes_bucket{le="4096"} 7
fbtftp_blksize_bytes_bucket{le="8192"} 7
fbtftp_blksize_bytes_bucket{le="16384"} 7
fbtftp_blksize_bytes_bucket{le="32768"} 7
fbtftp_blksize_bytes_bucket{le="65464"} 7
fbtftp_blksize_bytes_bucket{le="+Inf"} 8
fbtftp_blksize_bytes_sum 105496
fbtftp_blksize_bytes_count 8
# HELP fbtftp_build_info Always 1; the labels carry the build's version and Go version.
# TYPE fbtftp_build_info gauge
fbtftp_build_info{goversion="GOVERSION",version="v1.2.3-test"} 1
# HELP fbtftp_config_reloads_total Reloads of the map file and template data (SIGHUP), by result: success, or failure (a file unreadable or invalid; the last good configuration stays in force).
# TYPE fbtftp_config_reloads_total counter
fbtftp_config_reloads_total{result="failure"} 0
fbtftp_config_reloads_total{result="success"} 0
# HELP fbtftp_bytes_total Payload bytes transferred by sessions, partial transfers included, by direction (sent for RRQ, received for WRQ); counted while sessions run, from their progress reports (about every 500 ms).
# TYPE fbtftp_bytes_total counter
fbtftp_bytes_total{direction="received"} 1000
fbtftp_bytes_total{direction="sent"} 124480
# HELP fbtftp_content_sessions_total Download sessions that got content, by where it came from: file, template, origin (fetched from an HTTP origin during the session), cache (a complete copy in the HTTP cache), custom.
# TYPE fbtftp_content_sessions_total counter
fbtftp_content_sessions_total{source="cache"} 1
fbtftp_content_sessions_total{source="custom"} 0
fbtftp_content_sessions_total{source="file"} 0
fbtftp_content_sessions_total{source="origin"} 1
fbtftp_content_sessions_total{source="template"} 0
# HELP fbtftp_errors_received_total TFTP ERROR packets received from clients that ended a session (UEFI probes included), by error code.
# TYPE fbtftp_errors_received_total counter
fbtftp_errors_received_total{code="0"} 1
fbtftp_errors_received_total{code="8"} 2
# HELP fbtftp_errors_sent_total TFTP ERROR packets sent, by the master from a listener or by a worker ending its session, by error code.
# TYPE fbtftp_errors_sent_total counter
fbtftp_errors_sent_total{code="0"} 2
fbtftp_errors_sent_total{code="1"} 1
fbtftp_errors_sent_total{code="2"} 1
fbtftp_errors_sent_total{code="other"} 1
# HELP fbtftp_handoff_failures_total Handoffs to a worker that failed (the worker was killed; the request was retried on another or refused).
# TYPE fbtftp_handoff_failures_total counter
fbtftp_handoff_failures_total 1
# HELP fbtftp_handoff_seconds Time from reading a request (its first datagram) to a worker owning its session socket, time in the admission queue included.
# TYPE fbtftp_handoff_seconds histogram
fbtftp_handoff_seconds_bucket{le="0.0001"} 0
fbtftp_handoff_seconds_bucket{le="0.00025"} 1
fbtftp_handoff_seconds_bucket{le="0.0005"} 1
fbtftp_handoff_seconds_bucket{le="0.001"} 1
fbtftp_handoff_seconds_bucket{le="0.0025"} 1
fbtftp_handoff_seconds_bucket{le="0.005"} 2
fbtftp_handoff_seconds_bucket{le="0.01"} 2
fbtftp_handoff_seconds_bucket{le="0.025"} 2
fbtftp_handoff_seconds_bucket{le="0.05"} 2
fbtftp_handoff_seconds_bucket{le="0.1"} 2
fbtftp_handoff_seconds_bucket{le="0.25"} 2
fbtftp_handoff_seconds_bucket{le="0.5"} 2
fbtftp_handoff_seconds_bucket{le="1"} 2
fbtftp_handoff_seconds_bucket{le="2.5"} 3
fbtftp_handoff_seconds_bucket{le="5"} 3
fbtftp_handoff_seconds_bucket{le="10"} 3
fbtftp_handoff_seconds_bucket{le="30"} 3
fbtftp_handoff_seconds_bucket{le="+Inf"} 3
fbtftp_handoff_seconds_sum 2.0032
fbtftp_handoff_seconds_count 3
# HELP fbtftp_options_acknowledged_total Options acknowledged in an OACK, by option.
# TYPE fbtftp_options_acknowledged_total counter
fbtftp_options_acknowledged_total{option="blksize"} 2
fbtftp_options_acknowledged_total{option="blksize2"} 0
fbtftp_options_acknowledged_total{option="other"} 0
fbtftp_options_acknowledged_total{option="rollover"} 0
fbtftp_options_acknowledged_total{option="timeout"} 0
fbtftp_options_acknowledged_total{option="tsize"} 3
fbtftp_options_acknowledged_total{option="utimeout"} 0
fbtftp_options_acknowledged_total{option="windowsize"} 1
# HELP fbtftp_options_requested_total Options named in requests handed to workers, by option (unknown names as "other").
# TYPE fbtftp_options_requested_total counter
fbtftp_options_requested_total{option="blksize"} 3
fbtftp_options_requested_total{option="blksize2"} 0
fbtftp_options_requested_total{option="other"} 1
fbtftp_options_requested_total{option="rollover"} 0
fbtftp_options_requested_total{option="timeout"} 0
fbtftp_options_requested_total{option="tsize"} 3
fbtftp_options_requested_total{option="utimeout"} 0
fbtftp_options_requested_total{option="windowsize"} 1
# HELP fbtftp_packets_total Packets sent and received on session sockets (DATA, ACK, OACK, ERROR; retransmissions included), by direction; counted while sessions run.
# TYPE fbtftp_packets_total counter
fbtftp_packets_total{direction="received"} 93
fbtftp_packets_total{direction="sent"} 105
# HELP fbtftp_probe_followups_total UEFI size probes by the outcome of the next RRQ session of the same file from the same client address; outcome="none" when none finished within 5m0s.
# TYPE fbtftp_probe_followups_total counter
fbtftp_probe_followups_total{outcome="access_denied"} 0
fbtftp_probe_followups_total{outcome="bad_options"} 0
fbtftp_probe_followups_total{outcome="client_error"} 0
fbtftp_probe_followups_total{outcome="none"} 1
fbtftp_probe_followups_total{outcome="not_found"} 0
fbtftp_probe_followups_total{outcome="server_error"} 0
fbtftp_probe_followups_total{outcome="shutdown"} 0
fbtftp_probe_followups_total{outcome="success"} 1
fbtftp_probe_followups_total{outcome="timeout"} 0
fbtftp_probe_followups_total{outcome="worker_crash"} 0
# HELP fbtftp_queue_admitted_total Requests that waited in the admission queue and got a worker slot.
# TYPE fbtftp_queue_admitted_total counter
fbtftp_queue_admitted_total 2
# HELP fbtftp_queue_capacity The admission queue's bound (--queue-size; 0: no queue).
# TYPE fbtftp_queue_capacity gauge
fbtftp_queue_capacity 0
# HELP fbtftp_queue_dropped_total Requests the admission queue dropped unanswered, by reason: full (--queue-size), client (the client's share of the queue), timeout (not asked for again within --queue-timeout), shutdown.
# TYPE fbtftp_queue_dropped_total counter
fbtftp_queue_dropped_total{reason="client"} 0
fbtftp_queue_dropped_total{reason="full"} 1
fbtftp_queue_dropped_total{reason="shutdown"} 0
fbtftp_queue_dropped_total{reason="timeout"} 1
# HELP fbtftp_queue_length Requests waiting in the admission queue for a worker slot (beyond --max-workers, or beyond their client's --max-sessions-per-client).
# TYPE fbtftp_queue_length gauge
fbtftp_queue_length 0
# HELP fbtftp_queue_wait_seconds Time requests that waited in the admission queue spent there, from their first datagram to getting a worker slot.
# TYPE fbtftp_queue_wait_seconds histogram
fbtftp_queue_wait_seconds_bucket{le="0.01"} 0
fbtftp_queue_wait_seconds_bucket{le="0.05"} 0
fbtftp_queue_wait_seconds_bucket{le="0.1"} 0
fbtftp_queue_wait_seconds_bucket{le="0.25"} 0
fbtftp_queue_wait_seconds_bucket{le="0.5"} 1
fbtftp_queue_wait_seconds_bucket{le="1"} 1
fbtftp_queue_wait_seconds_bucket{le="2"} 1
fbtftp_queue_wait_seconds_bucket{le="4"} 1
fbtftp_queue_wait_seconds_bucket{le="6"} 1
fbtftp_queue_wait_seconds_bucket{le="8"} 2
fbtftp_queue_wait_seconds_bucket{le="10"} 2
fbtftp_queue_wait_seconds_bucket{le="15"} 2
fbtftp_queue_wait_seconds_bucket{le="20"} 2
fbtftp_queue_wait_seconds_bucket{le="30"} 2
fbtftp_queue_wait_seconds_bucket{le="60"} 2
fbtftp_queue_wait_seconds_bucket{le="+Inf"} 2
fbtftp_queue_wait_seconds_sum 7.3
fbtftp_queue_wait_seconds_count 2
# HELP fbtftp_requests_total Datagrams read on the listening sockets, by opcode and by what the master did with them.
# TYPE fbtftp_requests_total counter
fbtftp_requests_total{decision="accepted",op="rrq"} 7
fbtftp_requests_total{decision="accepted",op="wrq"} 1
fbtftp_requests_total{decision="busy",op="rrq"} 1
fbtftp_requests_total{decision="busy",op="wrq"} 0
fbtftp_requests_total{decision="client_limit",op="rrq"} 0
fbtftp_requests_total{decision="client_limit",op="wrq"} 0
fbtftp_requests_total{decision="dropped",op="rrq"} 2
fbtftp_requests_total{decision="dropped",op="wrq"} 0
fbtftp_requests_total{decision="duplicate",op="rrq"} 1
fbtftp_requests_total{decision="duplicate",op="wrq"} 0
fbtftp_requests_total{decision="malformed",op="ack"} 1
fbtftp_requests_total{decision="malformed",op="rrq"} 0
fbtftp_requests_total{decision="malformed",op="unknown"} 2
fbtftp_requests_total{decision="malformed",op="wrq"} 0
fbtftp_requests_total{decision="rejected",op="rrq"} 0
fbtftp_requests_total{decision="rejected",op="wrq"} 1
# HELP fbtftp_retransmits_total Packets (DATA, ACK or OACK) sent again by sessions: after a timeout, or to answer a repeated final block (never because of a duplicate ACK); counted while sessions run.
# TYPE fbtftp_retransmits_total counter
fbtftp_retransmits_total 7
# HELP fbtftp_session_duration_seconds Duration of finished sessions, from the worker's start to its report (crashed sessions from the request).
# TYPE fbtftp_session_duration_seconds histogram
fbtftp_session_duration_seconds_bucket{le="0.001"} 1
fbtftp_session_duration_seconds_bucket{le="0.005"} 3
fbtftp_session_duration_seconds_bucket{le="0.01"} 4
fbtftp_session_duration_seconds_bucket{le="0.025"} 5
fbtftp_session_duration_seconds_bucket{le="0.05"} 6
fbtftp_session_duration_seconds_bucket{le="0.1"} 6
fbtftp_session_duration_seconds_bucket{le="0.25"} 7
fbtftp_session_duration_seconds_bucket{le="0.5"} 7
fbtftp_session_duration_seconds_bucket{le="1"} 8
fbtftp_session_duration_seconds_bucket{le="2.5"} 8
fbtftp_session_duration_seconds_bucket{le="5"} 9
fbtftp_session_duration_seconds_bucket{le="10"} 9
fbtftp_session_duration_seconds_bucket{le="30"} 10
fbtftp_session_duration_seconds_bucket{le="60"} 10
fbtftp_session_duration_seconds_bucket{le="120"} 10
fbtftp_session_duration_seconds_bucket{le="300"} 10
fbtftp_session_duration_seconds_bucket{le="600"} 10
fbtftp_session_duration_seconds_bucket{le="+Inf"} 10
fbtftp_session_duration_seconds_sum 31.223699999999997
fbtftp_session_duration_seconds_count 10
# HELP fbtftp_session_retransmits Packets each finished session sent again (DATA, ACK or OACK), for sessions that started a transfer.
# TYPE fbtftp_session_retransmits histogram
fbtftp_session_retransmits_bucket{le="0"} 6
fbtftp_session_retransmits_bucket{le="1"} 6
fbtftp_session_retransmits_bucket{le="2"} 7
fbtftp_session_retransmits_bucket{le="5"} 8
fbtftp_session_retransmits_bucket{le="10"} 8
fbtftp_session_retransmits_bucket{le="20"} 8
fbtftp_session_retransmits_bucket{le="50"} 8
fbtftp_session_retransmits_bucket{le="100"} 8
fbtftp_session_retransmits_bucket{le="1000"} 8
fbtftp_session_retransmits_bucket{le="10000"} 8
fbtftp_session_retransmits_bucket{le="+Inf"} 8
fbtftp_session_retransmits_sum 7
fbtftp_session_retransmits_count 8
# HELP fbtftp_session_rtt_seconds Smoothed round-trip time each session measured between its packets and the client's answers (RFC 6298 SRTT), for sessions that measured one.
# TYPE fbtftp_session_rtt_seconds histogram
fbtftp_session_rtt_seconds_bucket{le="5e-05"} 0
fbtftp_session_rtt_seconds_bucket{le="0.0001"} 1
fbtftp_session_rtt_seconds_bucket{le="0.00025"} 1
fbtftp_session_rtt_seconds_bucket{le="0.0005"} 2
fbtftp_session_rtt_seconds_bucket{le="0.001"} 2
fbtftp_session_rtt_seconds_bucket{le="0.0025"} 2
fbtftp_session_rtt_seconds_bucket{le="0.005"} 2
fbtftp_session_rtt_seconds_bucket{le="0.01"} 2
fbtftp_session_rtt_seconds_bucket{le="0.02"} 2
fbtftp_session_rtt_seconds_bucket{le="0.05"} 3
fbtftp_session_rtt_seconds_bucket{le="0.1"} 3
fbtftp_session_rtt_seconds_bucket{le="0.25"} 3
fbtftp_session_rtt_seconds_bucket{le="0.5"} 3
fbtftp_session_rtt_seconds_bucket{le="1"} 3
fbtftp_session_rtt_seconds_bucket{le="+Inf"} 3
fbtftp_session_rtt_seconds_sum 0.02538
fbtftp_session_rtt_seconds_count 3
# HELP fbtftp_sessions_active Requests accepted and not finished yet: being handed off or served by a worker.
# TYPE fbtftp_sessions_active gauge
fbtftp_sessions_active 3
# HELP fbtftp_sessions_total Sessions finished, by request opcode and outcome.
# TYPE fbtftp_sessions_total counter
fbtftp_sessions_total{op="rrq",outcome="access_denied"} 0
fbtftp_sessions_total{op="rrq",outcome="bad_options"} 0
fbtftp_sessions_total{op="rrq",outcome="client_error"} 1
fbtftp_sessions_total{op="rrq",outcome="not_found"} 1
fbtftp_sessions_total{op="rrq",outcome="probe"} 2
fbtftp_sessions_total{op="rrq",outcome="server_error"} 1
fbtftp_sessions_total{op="rrq",outcome="shutdown"} 1
fbtftp_sessions_total{op="rrq",outcome="success"} 1
fbtftp_sessions_total{op="rrq",outcome="timeout"} 1
fbtftp_sessions_total{op="rrq",outcome="worker_crash"} 1
fbtftp_sessions_total{op="wrq",outcome="access_denied"} 0
fbtftp_sessions_total{op="wrq",outcome="bad_options"} 0
fbtftp_sessions_total{op="wrq",outcome="client_error"} 0
fbtftp_sessions_total{op="wrq",outcome="not_found"} 0
fbtftp_sessions_total{op="wrq",outcome="probe"} 0
fbtftp_sessions_total{op="wrq",outcome="server_error"} 0
fbtftp_sessions_total{op="wrq",outcome="shutdown"} 0
fbtftp_sessions_total{op="wrq",outcome="success"} 1
fbtftp_sessions_total{op="wrq",outcome="timeout"} 0
fbtftp_sessions_total{op="wrq",outcome="worker_crash"} 0
# HELP fbtftp_transfer_size_bytes Payload size of successful transfers, by direction (sent for RRQ, received for WRQ).
# TYPE fbtftp_transfer_size_bytes histogram
fbtftp_transfer_size_bytes_bucket{direction="received",le="512"} 0
fbtftp_transfer_size_bytes_bucket{direction="received",le="2048"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="8192"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="32768"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="131072"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="524288"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="2.097152e+06"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="8.388608e+06"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="3.3554432e+07"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="1.34217728e+08"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="5.36870912e+08"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="2.147483648e+09"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="8.589934592e+09"} 1
fbtftp_transfer_size_bytes_bucket{direction="received",le="+Inf"} 1
fbtftp_transfer_size_bytes_sum{direction="received"} 1000
fbtftp_transfer_size_bytes_count{direction="received"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="512"} 0
fbtftp_transfer_size_bytes_bucket{direction="sent",le="2048"} 0
fbtftp_transfer_size_bytes_bucket{direction="sent",le="8192"} 0
fbtftp_transfer_size_bytes_bucket{direction="sent",le="32768"} 0
fbtftp_transfer_size_bytes_bucket{direction="sent",le="131072"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="524288"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="2.097152e+06"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="8.388608e+06"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="3.3554432e+07"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="1.34217728e+08"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="5.36870912e+08"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="2.147483648e+09"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="8.589934592e+09"} 1
fbtftp_transfer_size_bytes_bucket{direction="sent",le="+Inf"} 1
fbtftp_transfer_size_bytes_sum{direction="sent"} 123456
fbtftp_transfer_size_bytes_count{direction="sent"} 1
# HELP fbtftp_windowsize_blocks Window size in force for sessions that started a transfer (1 unless negotiated).
# TYPE fbtftp_windowsize_blocks histogram
fbtftp_windowsize_blocks_bucket{le="1"} 6
fbtftp_windowsize_blocks_bucket{le="2"} 6
fbtftp_windowsize_blocks_bucket{le="4"} 6
fbtftp_windowsize_blocks_bucket{le="8"} 7
fbtftp_windowsize_blocks_bucket{le="16"} 7
fbtftp_windowsize_blocks_bucket{le="32"} 7
fbtftp_windowsize_blocks_bucket{le="64"} 7
fbtftp_windowsize_blocks_bucket{le="128"} 7
fbtftp_windowsize_blocks_bucket{le="256"} 7
fbtftp_windowsize_blocks_bucket{le="1024"} 7
fbtftp_windowsize_blocks_bucket{le="65535"} 7
fbtftp_windowsize_blocks_bucket{le="+Inf"} 8
fbtftp_windowsize_blocks_sum 70014
fbtftp_windowsize_blocks_count 8
# HELP fbtftp_worker_crashes_total Workers that exited without reporting stats (reason=crash, idle or busy) or were killed past their deadline (reason=killed).
# TYPE fbtftp_worker_crashes_total counter
fbtftp_worker_crashes_total{reason="crash"} 1
fbtftp_worker_crashes_total{reason="killed"} 1
# HELP fbtftp_worker_spawn_failures_total Workers that never became ready.
# TYPE fbtftp_worker_spawn_failures_total counter
fbtftp_worker_spawn_failures_total 1
# HELP fbtftp_worker_spawns_total Workers started that became ready.
# TYPE fbtftp_worker_spawns_total counter
fbtftp_worker_spawns_total 2
# HELP fbtftp_worker_start_seconds Time from exec to a worker's Hello.
# TYPE fbtftp_worker_start_seconds histogram
fbtftp_worker_start_seconds_bucket{le="0.001"} 0
fbtftp_worker_start_seconds_bucket{le="0.0025"} 0
fbtftp_worker_start_seconds_bucket{le="0.005"} 1
fbtftp_worker_start_seconds_bucket{le="0.01"} 1
fbtftp_worker_start_seconds_bucket{le="0.025"} 1
fbtftp_worker_start_seconds_bucket{le="0.05"} 2
fbtftp_worker_start_seconds_bucket{le="0.1"} 2
fbtftp_worker_start_seconds_bucket{le="0.25"} 2
fbtftp_worker_start_seconds_bucket{le="0.5"} 2
fbtftp_worker_start_seconds_bucket{le="1"} 2
fbtftp_worker_start_seconds_bucket{le="2.5"} 2
fbtftp_worker_start_seconds_bucket{le="5"} 2
fbtftp_worker_start_seconds_bucket{le="10"} 2
fbtftp_worker_start_seconds_bucket{le="+Inf"} 2
fbtftp_worker_start_seconds_sum 0.043000000000000003
fbtftp_worker_start_seconds_count 2
# HELP fbtftp_worker_slots_held Places of --max-workers held: sessions admitted whose worker, or a process it started, is still alive (a worker draining after its session holds its place).
# TYPE fbtftp_worker_slots_held gauge
fbtftp_worker_slots_held 0
# HELP fbtftp_worker_violations_total Protocol violations and lies by workers, by kind: early_message (spoke before its Handoff: not used), extra_message (spoke after its Stats, beyond one OriginStats: killed), malformed (killed), implausible_stats (clamped), left_processes (processes alive after it exited: killed).
# TYPE fbtftp_worker_violations_total counter
fbtftp_worker_violations_total{kind="early_message"} 0
fbtftp_worker_violations_total{kind="extra_message"} 0
fbtftp_worker_violations_total{kind="implausible_stats"} 0
fbtftp_worker_violations_total{kind="left_processes"} 0
fbtftp_worker_violations_total{kind="malformed"} 0
fbtftp_worker_violations_total{kind="progress_rate"} 0
fbtftp_worker_violations_total{kind="session_socket"} 0
# HELP fbtftp_workers Live worker processes, by state: idle (pooled, waiting for a session) or busy (all others: serving a session, starting or exiting).
# TYPE fbtftp_workers gauge
fbtftp_workers{state="busy"} 3
fbtftp_workers{state="idle"} 2
# HELP fbtftp_workers_max The limit of sessions (and so of busy workers) at once in force (--max-workers, or the default sized from the machine); requests beyond it wait in the admission queue (with --busy-error: are refused with "server busy").
# TYPE fbtftp_workers_max gauge
fbtftp_workers_max 1024
# HELP fbtftp_cache_evicted_bytes_total Size of the HTTP cache entries evicted.
# TYPE fbtftp_cache_evicted_bytes_total counter
fbtftp_cache_evicted_bytes_total 5000
# HELP fbtftp_cache_evictions_total HTTP cache entries evicted (least recently used first) to stay under --http-cache-size.
# TYPE fbtftp_cache_evictions_total counter
fbtftp_cache_evictions_total 1
# HELP fbtftp_cache_fills_total Downloads from origins into the HTTP cache that ended, by result: published (complete, in the cache) or aborted (failed).
# TYPE fbtftp_cache_fills_total counter
fbtftp_cache_fills_total{result="aborted"} 1
fbtftp_cache_fills_total{result="published"} 1
# HELP fbtftp_origin_errors_total Failed origin requests and downloads, by class: connect, timeout, status_4xx, status_5xx, status_other, body, too_large.
# TYPE fbtftp_origin_errors_total counter
fbtftp_origin_errors_total{class="body"} 0
fbtftp_origin_errors_total{class="connect"} 0
fbtftp_origin_errors_total{class="status_4xx"} 0
fbtftp_origin_errors_total{class="status_5xx"} 1
fbtftp_origin_errors_total{class="status_other"} 0
fbtftp_origin_errors_total{class="timeout"} 1
fbtftp_origin_errors_total{class="too_large"} 0
# HELP fbtftp_origin_request_duration_seconds Time from sending a request to an origin to its response headers, for requests that got an answer.
# TYPE fbtftp_origin_request_duration_seconds histogram
fbtftp_origin_request_duration_seconds_bucket{le="0.001"} 0
fbtftp_origin_request_duration_seconds_bucket{le="0.0025"} 0
fbtftp_origin_request_duration_seconds_bucket{le="0.005"} 0
fbtftp_origin_request_duration_seconds_bucket{le="0.01"} 0
fbtftp_origin_request_duration_seconds_bucket{le="0.025"} 0
fbtftp_origin_request_duration_seconds_bucket{le="0.05"} 1
fbtftp_origin_request_duration_seconds_bucket{le="0.1"} 1
fbtftp_origin_request_duration_seconds_bucket{le="0.25"} 1
fbtftp_origin_request_duration_seconds_bucket{le="0.5"} 1
fbtftp_origin_request_duration_seconds_bucket{le="1"} 1
fbtftp_origin_request_duration_seconds_bucket{le="2.5"} 1
fbtftp_origin_request_duration_seconds_bucket{le="5"} 1
fbtftp_origin_request_duration_seconds_bucket{le="10"} 1
fbtftp_origin_request_duration_seconds_bucket{le="+Inf"} 1
fbtftp_origin_request_duration_seconds_sum 0.03
fbtftp_origin_request_duration_seconds_count 1
# HELP fbtftp_origin_requests_total HTTP requests workers sent to origins (conditional revalidations included).
# TYPE fbtftp_origin_requests_total counter
fbtftp_origin_requests_total 2
`

func TestExposition(t *testing.T) {
	m, reg, clk := newTest(t)
	feedSequence(m, clk)
	want := strings.ReplaceAll(expectedExposition, "GOVERSION", runtime.Version())
	if err := testutil.GatherAndCompare(onlyFbtftp{reg}, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestLint(t *testing.T) {
	m, reg, clk := newTest(t)
	feedSequence(m, clk)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestDefaultRegistryUntouched(t *testing.T) {
	before, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range before {
		if strings.HasPrefix(mf.GetName(), namespace+"_") {
			t.Fatalf("default registry already has %s", mf.GetName())
		}
	}
	newTest(t)
	after, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range after {
		if strings.HasPrefix(mf.GetName(), namespace+"_") {
			t.Errorf("New registered %s on the default registry", mf.GetName())
		}
	}
}

func TestNilSourceAndEmptyVersion(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, nil, "")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		names[mf.GetName()] = mf
	}
	for _, n := range []string{"fbtftp_sessions_active", "fbtftp_workers", "fbtftp_handoff_failures_total"} {
		if names[n] != nil {
			t.Errorf("%s exported without a GaugeSource", n)
		}
	}
	bi := names["fbtftp_build_info"]
	if bi == nil {
		t.Fatal("no fbtftp_build_info")
	}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		if l.GetName() == "version" && l.GetValue() != "unknown" {
			t.Errorf("version = %q, want unknown", l.GetValue())
		}
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if names[n] == nil {
			t.Errorf("%s missing: Go/process collectors not registered", n)
		}
	}
}

func TestDoubleRegistrationPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, nil, "x")
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg, nil, "x")
}

func TestWorkerGaugesClamped(t *testing.T) {
	reg := prometheus.NewRegistry()
	// The pool was read after a worker left it but before live dropped:
	// idle > live must not give a negative busy.
	New(reg, fakeSource{master.Snapshot{LiveWorkers: 1, IdleWorkers: 2, Inflight: -1}}, "x")
	want := `
# HELP fbtftp_sessions_active Requests accepted and not finished yet: being handed off or served by a worker.
# TYPE fbtftp_sessions_active gauge
fbtftp_sessions_active 0
# HELP fbtftp_workers Live worker processes, by state: idle (pooled, waiting for a session) or busy (all others: serving a session, starting or exiting).
# TYPE fbtftp_workers gauge
fbtftp_workers{state="busy"} 0
fbtftp_workers{state="idle"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fbtftp_sessions_active", "fbtftp_workers"); err != nil {
		t.Fatal(err)
	}
}

func TestProbeFollowups(t *testing.T) {
	m, reg, clk := newTest(t)
	probe := func(p, file string) {
		m.SessionFinished(&stats.SessionStats{Peer: peer(p), Filename: file, Op: proto.OpRRQ, Outcome: stats.OutcomeProbe})
	}
	fetch := func(p, file string, o stats.Outcome) {
		m.SessionFinished(&stats.SessionStats{Peer: peer(p), Filename: file, Op: proto.OpRRQ, Outcome: o})
	}
	probe("10.1.0.1:1", "a")
	probe("10.1.0.1:2", "a")                       // repeated probe: still one pending
	fetch("10.1.0.1:3", "b", stats.OutcomeSuccess) // other file: no match
	fetch("10.1.0.2:3", "a", stats.OutcomeSuccess) // other client: no match
	m.SessionFinished(&stats.SessionStats{Peer: peer("10.1.0.1:4"), Filename: "a", Op: proto.OpWRQ, Outcome: stats.OutcomeSuccess})
	fetch("10.1.0.1:5", "a", stats.OutcomeTimeout) // the follow-up
	fetch("10.1.0.1:6", "a", stats.OutcomeSuccess) // a retry: nothing pending
	probe("10.1.0.3:1", "c")
	clk.t = clk.t.Add(ProbeFollowupWindow - time.Second)
	probe("10.1.0.4:1", "d")
	clk.t = clk.t.Add(2 * time.Second) // c expires (seen by the scrape), d pending
	check := func(outcome string, want float64) {
		t.Helper()
		if got := testutil.ToFloat64(m.probes.followups.WithLabelValues(outcome)); got != want {
			t.Errorf("followups{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	check("timeout", 1)
	check("success", 0)
	check("none", 1)
	fetch("10.1.0.4:2", "d", stats.OutcomeSuccess)
	check("success", 1)
	if n := len(m.probes.pending); n != 0 {
		t.Errorf("%d probes still pending", n)
	}
}

func TestProbeTrackerBounded(t *testing.T) {
	m, _, _ := newTest(t)
	for i := range maxTrackedProbes + 100 {
		m.SessionFinished(&stats.SessionStats{
			Peer:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1000),
			Filename: "f", Op: proto.OpRRQ, Outcome: stats.OutcomeProbe,
		})
	}
	if n := len(m.probes.pending); n != maxTrackedProbes {
		t.Errorf("pending = %d, want %d", n, maxTrackedProbes)
	}
}

func TestLabelMapping(t *testing.T) {
	for op, want := range map[proto.Opcode]string{0: "unknown", 1: "rrq", 2: "wrq", 3: "data", 4: "ack", 5: "error", 6: "oack", 7: "unknown", 65535: "unknown"} {
		if got := opLabel(op); got != want {
			t.Errorf("opLabel(%d) = %q, want %q", op, got, want)
		}
	}
	for c, want := range map[proto.ErrorCode]string{0: "0", 8: "8", 9: "other", 65535: "other"} {
		if got := codeLabel(c); got != want {
			t.Errorf("codeLabel(%d) = %q, want %q", c, got, want)
		}
	}
	for name, want := range map[string]string{"BlkSize": "blksize", "WINDOWSIZE": "windowsize", "blksize2": "blksize2", "multicast": "other", "": "other"} {
		if got := optionLabel(name); got != want {
			t.Errorf("optionLabel(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestObserverAllocs guards "fast and non-blocking": the hot events must not
// allocate.
func TestObserverAllocs(t *testing.T) {
	m, _, _ := newTest(t)
	st := &stats.SessionStats{
		Peer: peer("10.0.0.1:1"), Filename: "f", Op: proto.OpRRQ,
		OptionsRequested: opts("blksize", "1468", "tsize", "0"), OptionsAcked: opts("blksize", "1468"),
		Blksize: 1468, Windowsize: 4, Bytes: 1 << 20, Outcome: stats.OutcomeSuccess, Duration: time.Second,
	}
	for name, f := range map[string]func(){
		"Request":         func() { m.Request(proto.OpRRQ, master.DecisionAccepted) },
		"ErrorSent":       func() { m.ErrorSent(proto.ErrNotFound) },
		"Handoff":         func() { m.Handoff(time.Millisecond) },
		"SessionFinished": func() { m.SessionFinished(st) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs per call", name, n)
		}
	}
}

func BenchmarkSessionFinished(b *testing.B) {
	m, _, _ := newTest(b)
	st := &stats.SessionStats{
		Peer: peer("10.0.0.1:1"), Filename: "f", Op: proto.OpRRQ,
		OptionsRequested: opts("blksize", "1468", "tsize", "0"), OptionsAcked: opts("blksize", "1468"),
		Blksize: 1468, Windowsize: 4, Bytes: 1 << 20, Outcome: stats.OutcomeSuccess, Duration: time.Second,
	}
	b.ReportAllocs()
	for b.Loop() {
		m.SessionFinished(st)
	}
}

// Events from many goroutines while scraping: run with -race.
func TestConcurrent(t *testing.T) {
	m, reg, _ := newTest(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				m.Request(proto.OpRRQ, master.DecisionAccepted)
				m.Handoff(time.Millisecond)
				m.SessionFinished(&stats.SessionStats{
					Peer: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(g), byte(i / 2)}), 1), Filename: "f", Op: proto.OpRRQ,
					Outcome: []stats.Outcome{stats.OutcomeProbe, stats.OutcomeSuccess}[i%2],
				})
			}
		})
	}
	wg.Wait()
	<-done
	if got := testutil.ToFloat64(m.requests.WithLabelValues("rrq", "accepted")); got != 1600 {
		t.Errorf("requests = %v, want 1600", got)
	}
	if got := testutil.ToFloat64(m.probes.followups.WithLabelValues("success")); got != 800 {
		t.Errorf("probe follow-ups = %v, want 800", got)
	}
}

// finish reports a session as the master does: its counters as progress
// (SessionProgress), then the session.
func finish(m *Metrics, st *stats.SessionStats) {
	m.SessionProgress(st.Op, stats.ProgressDelta{Bytes: st.Bytes, PacketsSent: st.PacketsSent,
		PacketsReceived: st.PacketsReceived, Retransmits: st.Retransmits})
	m.SessionFinished(st)
}
