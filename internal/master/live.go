package master

import (
	"slices"
	"sync"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/live"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// stalledAfter is how old a session's last progress report may be before
// the live view shows its rate as 0: four report intervals.
const stalledAfter = 2 * time.Second

// liveState is what the master knows of a running session from its
// worker's Progress reports, bounded (boundProgress). The worker's mu
// guards it.
type liveState struct {
	prog     stats.Progress      // the last report, bounded
	counted  stats.ProgressDelta // what observers were given so far
	at       time.Time           // when it arrived
	rate     float64             // bytes per second since the report before
	reports  int                 // reports accepted
	tokens   float64             // the report rate bucket (progressRate)
	tokensAt time.Time
	lied     bool // a report was out of bounds (logged once)
	over     bool // the session's Stats arrived: no longer live
}

// Live returns the live view: the running sessions, oldest first, and the
// last minute's requests and outcomes (GET /sessions).
func (m *Master) Live() live.Snapshot {
	now := time.Now()
	m.mu.Lock()
	ws := make([]*worker, 0, len(m.workers))
	for w := range m.workers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	snap := live.Snapshot{Time: now.UTC(), Sessions: []live.Session{}, LastMinute: m.recent.take(now)}
	for _, w := range ws {
		if s, ok := w.liveSession(now); ok {
			snap.Sessions = append(snap.Sessions, s)
		}
	}
	slices.SortFunc(snap.Sessions, func(a, b live.Session) int { return a.Started.Compare(b.Started) })
	return snap
}

// liveSession describes the worker's session, if it has one running.
func (w *worker) liveSession(now time.Time) (live.Session, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ho := w.handoff
	if w.state != stateBusy || ho == nil || w.live.over {
		return live.Session{}, false
	}
	p := w.live.prog
	s := live.Session{
		ID: ho.SessionID, Peer: ho.Peer.String(), Local: ho.Local.String(), File: ho.Filename,
		Op: opName(ho.Op), Mode: ho.Mode.String(), Source: string(p.Source),
		Blksize: p.Blksize, Windowsize: p.Windowsize, Bytes: p.Bytes, BytesTotal: -1,
		Retransmits: p.Retransmits, PacketsSent: p.PacketsSent, PacketsReceived: p.PacketsReceived,
		Started: ho.Received.UTC(), Age: now.Sub(ho.Received).Seconds(), WorkerPID: w.pid,
	}
	if w.live.reports > 0 {
		s.BytesTotal = p.Size
		s.RTT = p.RTT.Seconds()
		if now.Sub(w.live.at) < stalledAfter {
			s.Rate = w.live.rate
		}
	}
	return s, true
}

func opName(op proto.Opcode) string {
	if op == proto.OpWRQ {
		return "wrq"
	}
	return "rrq"
}

// recentSeconds is the window of the live view's counts.
const recentSeconds = 60

// recentCounts counts decisions and outcomes per second over the last
// recentSeconds, for the live view. It implements Observer.
type recentCounts struct {
	mu      sync.Mutex
	start   time.Time
	buckets [recentSeconds]recentBucket
}

type recentBucket struct {
	sec       int64 // Unix second it counts; stale when older than the window
	decisions [8]uint64
	outcomes  [16]uint64
}

// bucket returns the bucket of now, reset if it held an older second.
// r.mu must be held.
func (r *recentCounts) bucket(now time.Time) *recentBucket {
	if r.start.IsZero() {
		r.start = now
	}
	sec := now.Unix()
	b := &r.buckets[sec%recentSeconds]
	if b.sec != sec {
		*b = recentBucket{sec: sec}
	}
	return b
}

func (r *recentCounts) Request(_ proto.Opcode, d Decision) {
	i := slices.Index(Decisions, d)
	if i < 0 {
		return
	}
	r.mu.Lock()
	r.bucket(time.Now()).decisions[i]++
	r.mu.Unlock()
}

func (r *recentCounts) SessionFinished(st *stats.SessionStats) {
	i := outcomeIndex(st.Outcome)
	if i < 0 {
		return
	}
	r.mu.Lock()
	r.bucket(time.Now()).outcomes[i]++
	r.mu.Unlock()
}

func (r *recentCounts) ErrorSent(proto.ErrorCode)   {}
func (r *recentCounts) WorkerStarted(time.Duration) {}
func (r *recentCounts) WorkerFailed()               {}
func (r *recentCounts) WorkerCrashed(bool)          {}
func (r *recentCounts) Handoff(time.Duration)       {}

// take sums the buckets of the last recentSeconds.
func (r *recentCounts) take(now time.Time) live.Recent {
	out := live.Recent{Requests: make(map[string]uint64, len(Decisions)), Outcomes: make(map[string]uint64, len(stats.Outcomes))}
	for _, d := range Decisions {
		out.Requests[string(d)] = 0
	}
	for _, o := range stats.Outcomes {
		out.Outcomes[string(o)] = 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sec := now.Unix()
	for _, b := range r.buckets {
		if b.sec <= sec-recentSeconds || b.sec > sec {
			continue
		}
		for i, d := range Decisions {
			out.Requests[string(d)] += b.decisions[i]
		}
		for i, o := range stats.Outcomes {
			out.Outcomes[string(o)] += b.outcomes[i]
		}
	}
	out.Seconds = recentSeconds
	if !r.start.IsZero() {
		out.Seconds = min(recentSeconds, now.Sub(r.start).Seconds())
	} else {
		out.Seconds = 0
	}
	return out
}

// progress takes a Progress report from the worker, received at now: it
// bounds it, and returns the growth to give observers and the fields
// corrected (the first time only: a liar is logged once). flood reports a
// worker sending faster than the master takes reports.
func (w *worker) progress(p *stats.Progress, ho *ipc.Handoff, sent, now time.Time) (d stats.ProgressDelta, fixed []string, flood bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := &w.live
	if l.tokensAt.IsZero() {
		l.tokens = progressBurst
	} else {
		l.tokens = min(progressBurst, l.tokens+now.Sub(l.tokensAt).Seconds()*progressRate)
	}
	l.tokensAt = now
	if l.tokens < 1 {
		return d, nil, true
	}
	l.tokens--
	fixed = boundProgress(p, &l.prog, ho, now.Sub(sent))
	if l.lied {
		fixed = nil
	} else if len(fixed) > 0 {
		l.lied = true
	}
	if l.reports > 0 {
		if dt := now.Sub(l.at).Seconds(); dt > 0 {
			l.rate = float64(p.Bytes-l.prog.Bytes) / dt
		}
	} else if dt := now.Sub(sent).Seconds(); dt > 0 {
		l.rate = float64(p.Bytes) / dt
	}
	l.prog, l.at = *p, now
	l.reports++
	d = l.grow(stats.ProgressDelta{Bytes: p.Bytes, PacketsSent: p.PacketsSent, PacketsReceived: p.PacketsReceived, Retransmits: p.Retransmits})
	return d, fixed, false
}

// grow records that observers have been given the counters to, and
// returns the growth since the last time.
func (l *liveState) grow(to stats.ProgressDelta) stats.ProgressDelta {
	d := stats.ProgressDelta{
		Bytes: to.Bytes - l.counted.Bytes, PacketsSent: to.PacketsSent - l.counted.PacketsSent,
		PacketsReceived: to.PacketsReceived - l.counted.PacketsReceived, Retransmits: to.Retransmits - l.counted.Retransmits,
	}
	l.counted = to
	return d
}

// settle squares the session's final Stats (bounded already) with what
// its reports gave observers: the Stats may not count less than that (the
// worker lied in its reports or in its Stats; the fields are named), and
// the rest is returned for observers, which count it just before the
// session. The session is no longer live.
func (w *worker) settle(st *stats.SessionStats) (stats.ProgressDelta, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := &w.live
	l.over = true
	var fixed []string
	raise := func(field string, v *uint64, floor uint64) {
		if *v < floor {
			*v = floor
			fixed = append(fixed, field)
		}
	}
	raise("bytes", &st.Bytes, l.counted.Bytes)
	raise("packets_sent", &st.PacketsSent, l.counted.PacketsSent)
	raise("packets_received", &st.PacketsReceived, l.counted.PacketsReceived)
	raise("retransmits", &st.Retransmits, l.counted.Retransmits)
	return l.grow(stats.ProgressDelta{Bytes: st.Bytes, PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsReceived, Retransmits: st.Retransmits}), fixed
}

// crashed fills the stats of a session whose worker died without Stats
// with what its reports said: observers counted that much already.
func (l *liveState) crashed(st *stats.SessionStats) {
	st.Bytes, st.PacketsSent, st.PacketsReceived, st.Retransmits = l.counted.Bytes, l.counted.PacketsSent, l.counted.PacketsReceived, l.counted.Retransmits
	if l.reports > 0 {
		st.Blksize, st.Windowsize, st.Source, st.RTT = l.prog.Blksize, l.prog.Windowsize, l.prog.Source, l.prog.RTT
	}
}
