package metrics

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// allowedLabels is the closed value set of every label fbtftp_ series
// carry.
func allowedLabels() map[string]map[string]bool {
	set := func(vs ...string) map[string]bool {
		m := map[string]bool{}
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	decisions := set()
	for _, d := range master.Decisions {
		decisions[string(d)] = true
	}
	outcomes := set(followupNone)
	for _, o := range stats.Outcomes {
		outcomes[string(o)] = true
	}
	options := set(append(append([]string(nil), proto.KnownOptions...), labelOther)...)
	reasons := set("crash", "killed")
	for _, r := range master.QueueDrops {
		reasons[string(r)] = true
	}
	kinds := set()
	for _, k := range master.Violations {
		kinds[string(k)] = true
	}
	return map[string]map[string]bool{
		"op":        set("rrq", "wrq", "data", "ack", "error", "oack", "unknown"),
		"decision":  decisions,
		"outcome":   outcomes,
		"code":      set("0", "1", "2", "3", "4", "5", "6", "7", "8", labelOther),
		"option":    options,
		"direction": set(dirSent, dirReceived),
		"state":     set("idle", "busy"),
		"reason":    reasons,
		"kind":      kinds,
		"source":    set("file", "template", "origin", "cache", "custom"),
		"class":     set(stats.OriginErrorLabels[:]...),
		"result":    set(fillPublished, fillAborted, "success", "failure"),
		"version":   set(testVersion),
		"goversion": nil, // one value, checked by the series count
		"le":        nil, // bucket bounds, fixed by the bucket vars
	}
}

// seriesCount counts the fbtftp_ samples of a gather (each bucket, _sum
// and _count counts), checking every label against allowedLabels.
func seriesCount(t *testing.T, reg prometheus.Gatherer) int {
	t.Helper()
	mfs, err := onlyFbtftp{reg}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := allowedLabels()
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				vs, ok := allowed[l.GetName()]
				if !ok {
					t.Errorf("%s: label %q is not in the closed label set", mf.GetName(), l.GetName())
				} else if vs != nil && !vs[l.GetValue()] {
					t.Errorf("%s: %s=%q is not in the label's closed value set", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
			n++
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				n += len(m.GetHistogram().GetBucket()) + 2 // +Inf is implicit; _sum, _count
			}
		}
	}
	return n
}

// maxSeries is the number of fbtftp_ series once every label combination
// has been used: the bound no input may exceed.
func maxSeries() int {
	hist := func(buckets []float64) int { return len(buckets) + 1 + 2 } // +Inf, _sum, _count
	ops := 7
	decisions := len(master.Decisions)
	codes := int(maxCodeLabel) + 2 // 0..8, other
	options := len(proto.KnownOptions) + 1
	return ops*decisions + // requests_total
		2*codes + // errors_sent_total, errors_received_total
		3*len(stats.Outcomes) + // sessions_total{op=rrq,wrq,unknown}
		len(stats.Sources) + // content_sessions_total
		hist(DurationBuckets) +
		2*hist(SizeBuckets) + // transfer_size_bytes{direction}
		2 + 2 + 1 + // bytes_total, packets_total, retransmits_total
		hist(RetransmitBuckets) + hist(RTTBuckets) + // session_retransmits, session_rtt_seconds
		2*options + // options requested, acknowledged
		hist(BlksizeBuckets) + hist(WindowsizeBuckets) +
		hist(HandoffBuckets) + 1 + hist(WorkerStartBuckets) + 1 + 2 + // handoff, spawns, start, failures, crashes
		len(stats.Outcomes) + // probe_followups_total: outcomes - probe + none
		1 + // build_info
		1 + 2 + 1 + 1 + // sessions_active, workers{state}, handoff_failures_total, workers_max
		len(master.Violations) + 1 + // worker_violations_total{kind}, worker_slots_held
		1 + hist(OriginLatencyBuckets) + int(stats.NumOriginErrors) + // origin requests, latency, errors{class}
		2 + 1 + 1 + // cache_fills_total{result}, evictions, evicted bytes
		2 + // config_reloads_total{result}
		hist(QueueWaitBuckets) + 1 + len(master.QueueDrops) + 2 // queue wait, admitted, dropped{reason}, length, capacity
}

func TestCardinalityBounded(t *testing.T) {
	m, reg, clk := newTest(t)
	feedSequence(m, clk)
	base := seriesCount(t, reg)
	bound := maxSeries()
	if base > bound {
		t.Fatalf("%d series after the fixed sequence, above the bound %d", base, bound)
	}

	// 1000 sessions, each with its own peer, file, option names, codes,
	// sizes and outcome strings, plus every event with odd arguments.
	for i := range 1000 {
		p := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), uint16(1024+i))
		m.Request(proto.Opcode(i), master.Decisions[i%len(master.Decisions)])
		m.Request(proto.Opcode(i), master.Decision(fmt.Sprint("d", i)))
		m.ErrorSent(proto.ErrorCode(i))
		m.Handoff(time.Duration(i) * time.Millisecond)
		m.QueueAdmitted(time.Duration(i) * time.Millisecond)
		m.QueueDropped(master.QueueDrops[i%len(master.QueueDrops)])
		m.QueueDropped(master.QueueDrop(fmt.Sprint("r", i)))
		m.WorkerStarted(time.Duration(i) * time.Millisecond)
		m.WorkerCrashed(i%2 == 0)
		m.SessionFinished(&stats.SessionStats{
			SessionID: fmt.Sprint("s-", i),
			Peer:      p,
			Filename:  fmt.Sprintf("host-%d/pxelinux.cfg/%x", i, i*7919),
			Op:        proto.Opcode(i % 8),
			OptionsRequested: []proto.Option{
				{Name: fmt.Sprint("x-opt-", i), Value: fmt.Sprint(i)},
				{Name: proto.KnownOptions[i%len(proto.KnownOptions)], Value: "1"},
			},
			OptionsAcked: []proto.Option{{Name: strings.ToUpper(proto.KnownOptions[i%len(proto.KnownOptions)]), Value: "1"}},
			Blksize:      i * 67,
			Windowsize:   i * 13,
			Bytes:        uint64(i) * 100003,
			Outcome:      []stats.Outcome{stats.Outcomes[i%len(stats.Outcomes)], stats.Outcome(fmt.Sprint("o", i))}[i%2],
			ErrorCode:    proto.ErrorCode(i),
			ErrorMessage: fmt.Sprint("message ", i),
			Duration:     time.Duration(i) * time.Second,
			Origin: stats.OriginStats{Requests: uint64(i), Latencies: []time.Duration{time.Duration(i) * time.Millisecond},
				Errors: [stats.NumOriginErrors]uint64{uint64(i)}, Fills: uint64(i % 3), AbortedFills: uint64(i % 2), Evictions: 1},
		})
		m.OriginWork(&stats.OriginStats{Requests: 1, Errors: [stats.NumOriginErrors]uint64{6: uint64(i)}})
	}
	clk.t = clk.t.Add(2 * ProbeFollowupWindow)
	after := seriesCount(t, reg)
	if after > bound {
		t.Errorf("%d series after 1000 distinct sessions, above the closed-set bound %d", after, bound)
	}
	t.Logf("series: %d after the fixed sequence, %d after 1000 distinct sessions, bound %d", base, after, bound)

	// Nothing of a peer, a file or a session id appears in the exposition.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "10.9.") || strings.Contains(v, "host-") || strings.Contains(v, "s-") || strings.Contains(v, "x-opt") {
					t.Errorf("%s{%s=%q} leaks request data", mf.GetName(), l.GetName(), v)
				}
			}
		}
	}
}
