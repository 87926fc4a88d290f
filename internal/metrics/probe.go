package metrics

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// UEFI firmware asks for a file's size first (RRQ with tsize, OACK, ERROR 8:
// outcome "probe") and then downloads it with a new RRQ from another port.
// A probe whose download never succeeds is the typical symptom of a
// firmware/network problem (a blksize the path cannot carry, a firewall
// that lets the listener through but not the session port).
//
// probeTracker correlates each probe with the next non-probe RRQ session of
// the same file from the same client address, and counts that follow-up's
// outcome in fbtftp_probe_followups_total{outcome}; outcome="none" counts
// probes with no follow-up finished within ProbeFollowupWindow. Peers and
// file names are only hashed into an in-memory key, never exported.
const (
	// ProbeFollowupWindow is how long after a probe its follow-up session
	// may finish. Downloads that take longer are counted as "none".
	ProbeFollowupWindow = 5 * time.Minute

	// maxTrackedProbes bounds the tracker's memory (about 100 bytes an
	// entry). Probes beyond it are not tracked and counted nowhere.
	maxTrackedProbes = 1 << 16

	// sweepEvery limits how often SessionFinished scans for expired
	// probes; every scrape scans too.
	sweepEvery = time.Second
)

// followupNone is the outcome label for a probe with no follow-up.
const followupNone = "none"

type probeKey struct {
	addr netip.Addr
	file uint64 // maphash of the file name
}

type probeTracker struct {
	followups *prometheus.CounterVec // outcome

	mu        sync.Mutex
	now       func() time.Time
	seed      maphash.Seed
	pending   map[probeKey]time.Time // deadline
	lastSweep time.Time
}

func newProbeTracker() *probeTracker {
	t := &probeTracker{
		followups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "probe_followups_total",
			Help: "UEFI size probes by the outcome of the next RRQ session of the same file from the same client address; outcome=\"none\" when none finished within " + ProbeFollowupWindow.String() + ".",
		}, []string{"outcome"}),
		now:     time.Now,
		seed:    maphash.MakeSeed(),
		pending: map[probeKey]time.Time{},
	}
	for _, o := range stats.Outcomes {
		if o != stats.OutcomeProbe {
			t.followups.WithLabelValues(string(o))
		}
	}
	t.followups.WithLabelValues(followupNone)
	return t
}

// observe accounts for a finished session; outcome is already validated.
func (t *probeTracker) observe(st *stats.SessionStats, outcome stats.Outcome) {
	if st.Op != proto.OpRRQ {
		return
	}
	key := probeKey{addr: st.Peer.Addr().Unmap(), file: maphash.String(t.seed, st.Filename)}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.Sub(t.lastSweep) >= sweepEvery {
		t.sweepLocked(now)
	}
	if outcome == stats.OutcomeProbe {
		// A repeated probe restarts the wait.
		if _, ok := t.pending[key]; ok || len(t.pending) < maxTrackedProbes {
			t.pending[key] = now.Add(ProbeFollowupWindow)
		}
		return
	}
	if _, ok := t.pending[key]; ok {
		delete(t.pending, key)
		t.followups.WithLabelValues(string(outcome)).Inc()
	}
}

func (t *probeTracker) sweepLocked(now time.Time) {
	t.lastSweep = now
	for k, deadline := range t.pending {
		if now.After(deadline) {
			delete(t.pending, k)
			t.followups.WithLabelValues(followupNone).Inc()
		}
	}
}

// Describe implements prometheus.Collector.
func (t *probeTracker) Describe(ch chan<- *prometheus.Desc) { t.followups.Describe(ch) }

// Collect implements prometheus.Collector: expired probes are counted
// first, so "none" advances even when no session finishes at all.
func (t *probeTracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	t.sweepLocked(t.now())
	t.mu.Unlock()
	t.followups.Collect(ch)
}
