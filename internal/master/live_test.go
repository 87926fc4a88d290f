package master

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

func liveHandoff(op proto.Opcode) *ipc.Handoff {
	return &ipc.Handoff{
		SessionID: "s-1", Op: op, Filename: "initrd", Mode: proto.ModeOctet,
		Options: []proto.Option{{Name: "blksize", Value: "1468"}, {Name: "windowsize", Value: "4"}},
		Peer:    netip.MustParseAddrPort("192.0.2.1:1000"), Local: netip.MustParseAddrPort("192.0.2.2:69"),
		Settings: ipc.Settings{MaxUpload: 1 << 20},
	}
}

func TestBoundProgress(t *testing.T) {
	prev := stats.Progress{Bytes: 10 * 1468, PacketsSent: 11, PacketsReceived: 10, Retransmits: 1}
	honest := func() *stats.Progress {
		return &stats.Progress{SessionID: "s-1", Bytes: 100 * 1468, PacketsSent: 102, PacketsReceived: 101, Retransmits: 2,
			Size: 8 << 20, Blksize: 1468, Windowsize: 4, Source: stats.SourceFile}
	}
	for _, c := range []struct {
		name  string
		op    proto.Opcode
		lie   func(*stats.Progress)
		fixed []string
		check func(*stats.Progress) bool
	}{
		{"honest", proto.OpRRQ, func(*stats.Progress) {}, nil, nil},
		{"bytes beyond a block per DATA", proto.OpRRQ, func(p *stats.Progress) { p.Bytes = math.MaxUint64 }, []string{"bytes"},
			func(p *stats.Progress) bool { return p.Bytes == 102*1468 }},
		{"counters going back", proto.OpRRQ, func(p *stats.Progress) { p.Bytes, p.PacketsSent, p.Retransmits = 5, 3, 0 },
			[]string{"packets_sent", "retransmits", "bytes"}, func(p *stats.Progress) bool {
				return p.Bytes == prev.Bytes && p.PacketsSent == prev.PacketsSent && p.Retransmits == prev.Retransmits
			}},
		{"packets faster than a link", proto.OpRRQ, func(p *stats.Progress) { p.PacketsSent, p.PacketsReceived = 1<<60, 1<<60 },
			[]string{"packets_sent", "packets_received"}, nil},
		{"retransmits above packets", proto.OpRRQ, func(p *stats.Progress) { p.Retransmits = 1000 }, []string{"retransmits"},
			func(p *stats.Progress) bool { return p.Retransmits == 102 }},
		{"blksize above the request", proto.OpRRQ, func(p *stats.Progress) { p.Blksize = 65464 }, []string{"blksize"},
			func(p *stats.Progress) bool { return p.Blksize == 1468 }},
		{"windowsize above the request", proto.OpRRQ, func(p *stats.Progress) { p.Windowsize = 1 << 30 }, []string{"windowsize"},
			func(p *stats.Progress) bool { return p.Windowsize == 4 }},
		{"rtt beyond the session", proto.OpRRQ, func(p *stats.Progress) { p.RTT = time.Hour }, []string{"rtt"},
			func(p *stats.Progress) bool { return p.RTT == 2*time.Second }},
		{"upload over its maximum", proto.OpWRQ, func(p *stats.Progress) { p.PacketsReceived, p.Bytes, p.Size = 5000, 4000*1468, 1<<40 },
			[]string{"size", "bytes"}, func(p *stats.Progress) bool { return p.Bytes == 1<<20 && p.Size == 1<<20 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ho := liveHandoff(c.op)
			p := honest()
			c.lie(p)
			fixed := boundProgress(p, &prev, ho, 2*time.Second)
			if !slices.Equal(fixed, c.fixed) {
				t.Errorf("fixed %v, want %v", fixed, c.fixed)
			}
			if c.check != nil && !c.check(p) {
				t.Errorf("after bounds: %+v", p)
			}
			if again := boundProgress(p, &prev, ho, 2*time.Second); len(again) > 0 {
				t.Errorf("bounded report still out of bounds: %v", again)
			}
		})
	}
}

// A worker's reports give observers their growth; the final Stats give
// the rest, never less than what was counted; the report rate is bounded.
func TestWorkerProgressAndSettle(t *testing.T) {
	ho := liveHandoff(proto.OpRRQ)
	sent := time.Now()
	w := &worker{}
	report := func(at time.Duration, bytes, pkts uint64) (stats.ProgressDelta, []string, bool) {
		return w.progress(&stats.Progress{SessionID: "s-1", Bytes: bytes, PacketsSent: pkts, PacketsReceived: pkts,
			Size: 1 << 20, Blksize: 1468, Windowsize: 4}, ho, sent, sent.Add(at))
	}
	d, fixed, flood := report(500*time.Millisecond, 100*1468, 101)
	if flood || fixed != nil || d != (stats.ProgressDelta{Bytes: 100 * 1468, PacketsSent: 101, PacketsReceived: 101}) {
		t.Fatalf("first report: %+v %v %v", d, fixed, flood)
	}
	d, _, _ = report(time.Second, 300*1468, 301)
	if d != (stats.ProgressDelta{Bytes: 200 * 1468, PacketsSent: 200, PacketsReceived: 200}) {
		t.Fatalf("second report: %+v", d)
	}
	if w.live.rate != 200*1468/0.5 {
		t.Errorf("rate %v", w.live.rate)
	}
	// A lie is bounded (and named once): bytes may not shrink.
	if d, fixed, _ := report(1500*time.Millisecond, 1, 302); !slices.Equal(fixed, []string{"bytes"}) || d.Bytes != 0 || d.PacketsSent != 1 {
		t.Errorf("shrinking bytes: %+v %v", d, fixed)
	}
	if _, fixed, _ := report(1600*time.Millisecond, 2, 303); fixed != nil {
		t.Errorf("a second lie named again: %v", fixed)
	}

	// Stats below what the reports counted are raised to it.
	st := &stats.SessionStats{Op: proto.OpRRQ, Bytes: 1000, PacketsSent: 400, PacketsReceived: 400}
	d, fixed = w.settle(st)
	if !slices.Equal(fixed, []string{"bytes"}) || st.Bytes != 300*1468 || d != (stats.ProgressDelta{PacketsSent: 97, PacketsReceived: 97}) {
		t.Errorf("settle: %+v %v %+v", d, fixed, st)
	}
	if !w.live.over {
		t.Error("still live after its Stats")
	}

	// The rate bucket: a burst of progressBurst, then progressRate a second.
	w2 := &worker{}
	at := sent
	n := 0
	for ; n < 100; n++ {
		if _, _, flood := w2.progress(&stats.Progress{SessionID: "s-1"}, ho, sent, at); flood {
			break
		}
	}
	if n != progressBurst {
		t.Errorf("%d reports taken at once, want %d", n, progressBurst)
	}
	if _, _, flood := w2.progress(&stats.Progress{SessionID: "s-1"}, ho, sent, at.Add(time.Second/progressRate)); flood {
		t.Error("a report after a rate interval refused")
	}
	// An honest worker (every 500 ms) is never refused.
	w3 := &worker{}
	for i := range 1000 {
		if _, _, flood := w3.progress(&stats.Progress{SessionID: "s-1"}, ho, sent, sent.Add(time.Duration(i)*500*time.Millisecond)); flood {
			t.Fatalf("honest report %d refused", i)
		}
	}
}

// A crashed worker's session counts what its reports counted.
func TestLiveCrashed(t *testing.T) {
	w := &worker{}
	w.progress(&stats.Progress{SessionID: "s-1", Bytes: 1468, PacketsSent: 2, PacketsReceived: 2, Blksize: 1468, Windowsize: 4,
		Source: stats.SourceCache}, liveHandoff(proto.OpRRQ), time.Now(), time.Now())
	st := crashStats(liveHandoff(proto.OpRRQ), 7)
	w.live.crashed(st)
	if st.Bytes != 1468 || st.PacketsSent != 2 || st.Blksize != 1468 || st.Source != stats.SourceCache {
		t.Errorf("%+v", st)
	}
}

func TestLiveSession(t *testing.T) {
	now := time.Now()
	ho := liveHandoff(proto.OpRRQ)
	ho.Received = now.Add(-3 * time.Second)
	w := &worker{pid: 42, state: stateBusy, handoff: ho}
	s, ok := w.liveSession(now)
	if !ok || s.ID != "s-1" || s.Peer != "192.0.2.1:1000" || s.File != "initrd" || s.Op != "rrq" || s.BytesTotal != -1 ||
		s.Age != 3 || s.WorkerPID != 42 || s.Rate != 0 {
		t.Fatalf("before a report: %+v %v", s, ok)
	}
	w.progress(&stats.Progress{SessionID: "s-1", Bytes: 1468, PacketsSent: 2, Size: 1 << 20, Blksize: 1468, Windowsize: 4,
		RTT: 3 * time.Millisecond}, ho, now.Add(-time.Second), now)
	if s, _ = w.liveSession(now.Add(time.Second)); s.Bytes != 1468 || s.BytesTotal != 1<<20 || s.Rate != 1468 || s.Blksize != 1468 || s.RTT != 0.003 {
		t.Errorf("after a report: %+v", s)
	}
	if s, _ = w.liveSession(now.Add(stalledAfter)); s.Rate != 0 {
		t.Errorf("stalled, rate %v", s.Rate)
	}
	w.settle(&stats.SessionStats{Bytes: 1468, PacketsSent: 2})
	if _, ok := w.liveSession(now); ok {
		t.Error("listed after its Stats")
	}
}

func TestRecentCounts(t *testing.T) {
	var r recentCounts
	t0 := time.Unix(1_800_000_000, 0)
	if got := r.take(t0); got.Seconds != 0 || got.Requests["busy"] != 0 || len(got.Requests) != len(Decisions) || len(got.Outcomes) != len(stats.Outcomes) {
		t.Fatalf("empty: %+v", got)
	}
	add := func(at time.Time, d Decision, o stats.Outcome) {
		r.mu.Lock()
		b := r.bucket(at)
		b.decisions[slices.Index(Decisions, d)]++
		if o != "" {
			b.outcomes[outcomeIndex(o)]++
		}
		r.mu.Unlock()
	}
	add(t0, DecisionAccepted, stats.OutcomeSuccess)
	add(t0.Add(30*time.Second), DecisionBusy, "")
	add(t0.Add(59*time.Second), DecisionAccepted, stats.OutcomeTimeout)
	got := r.take(t0.Add(59 * time.Second))
	if got.Requests["accepted"] != 2 || got.Requests["busy"] != 1 || got.Outcomes["success"] != 1 || got.Outcomes["timeout"] != 1 || got.Seconds != 59 {
		t.Errorf("within the minute: %+v", got)
	}
	got = r.take(t0.Add(60 * time.Second))
	if got.Requests["accepted"] != 1 || got.Outcomes["success"] != 0 || got.Seconds != 60 {
		t.Errorf("a minute later: %+v", got)
	}
	// A bucket reused 60 s later starts again.
	add(t0.Add(120*time.Second), DecisionBusy, "")
	if got = r.take(t0.Add(120 * time.Second)); got.Requests["busy"] != 1 || got.Requests["accepted"] != 0 {
		t.Errorf("two minutes later: %+v", got)
	}
	// Through the Observer methods (now).
	var r2 recentCounts
	r2.Request(proto.OpRRQ, DecisionClientLimit)
	r2.Request(proto.OpRRQ, Decision("bogus"))
	r2.SessionFinished(&stats.SessionStats{Outcome: stats.OutcomeProbe})
	r2.SessionFinished(&stats.SessionStats{Outcome: "exploded"})
	if got := r2.take(time.Now()); got.Requests["client_limit"] != 1 || got.Outcomes["probe"] != 1 || len(got.Requests) != len(Decisions) {
		t.Errorf("observer: %+v", got)
	}
}
