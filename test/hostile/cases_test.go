package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// hostileCase is one kind of bad worker and what the master must make of
// it.
type hostileCase struct {
	name string
	mode string
	// outcome of the one session line, "" when no session may be accounted
	// (the request never reached a worker that took it).
	outcome    stats.Outcome
	crashes    uint64
	killed     uint64
	violation  master.Violation // "" for none
	count      uint64           // of the violation
	spawnFail  uint64
	child      bool // the worker leaves a child that must die
	cgroupOnly bool
	anyJail    bool // the jail plays no part: run under one containment only
	early      bool // some (1 to 3) violations, and no success
	// hello and deadline, when set, replace the long defaults for the
	// cases that wait for them.
	hello, deadline time.Duration
	check           func(t *testing.T, e *env)
}

var hostileCases = []hostileCase{
	// A request gets ERROR 0 once its worker's Hello times out; while
	// starts fail, the master retries every second (more failures).
	{name: "never says Hello", mode: modeNoHello, spawnFail: 1, hello: 3 * time.Second},
	// Stats queued before the Handoff are refused at the Handoff; Stats
	// sent while it travels do not name the session. Either way no
	// success is counted: the request ends as a crash, or with ERROR 0
	// after three workers were discarded.
	{name: "Stats before the Handoff", anyJail: true, mode: modeEarlyStats, violation: master.ViolationEarlyMessage, early: true},
	{name: "forks and exits", mode: modeForkExit, outcome: stats.OutcomeWorkerCrash, crashes: 1,
		violation: master.ViolationLeftProcesses, count: 1, child: true},
	{name: "Stats, forks and exits", mode: modeStatsForkExit, outcome: stats.OutcomeSuccess,
		violation: master.ViolationLeftProcesses, count: 1, child: true},
	{name: "forks a child that leaves the process group", mode: modeSetsidFork, outcome: stats.OutcomeWorkerCrash, crashes: 1,
		violation: master.ViolationLeftProcesses, count: 1, child: true, cgroupOnly: true},
	{name: "duplicate Stats", anyJail: true, mode: modeDupStats, outcome: stats.OutcomeSuccess, violation: master.ViolationExtraMessage, count: 1},
	{name: "oversized message", anyJail: true, mode: modeOversized, outcome: stats.OutcomeWorkerCrash, crashes: 1,
		violation: master.ViolationMalformed, count: 1},
	{name: "Stats carrying a descriptor", anyJail: true, mode: modeStatsWithFD, outcome: stats.OutcomeWorkerCrash, crashes: 1,
		violation: master.ViolationMalformed, count: 1},
	{name: "lying Stats", anyJail: true, mode: modeLyingStats, outcome: stats.OutcomeSuccess, violation: master.ViolationImplausibleStats, count: 1,
		check: func(t *testing.T, e *env) {
			st := e.stats()[0]
			if st.Filename != "f" || st.Peer.Addr().String() != "127.0.0.1" || st.Bytes > 2*uint64(proto.MaxBlksize)*uint64(20*(1<<22)) {
				t.Errorf("lies counted: %+v", st)
			}
			if b := e.metric("fbtftp_bytes_total", "direction", "sent"); b > 1e15 {
				t.Errorf("fbtftp_bytes_total = %g", b)
			}
			if st.Duration > 30*time.Second || st.Start.Before(time.Now().Add(-time.Minute)) {
				t.Errorf("duration %v start %v", st.Duration, st.Start)
			}
			if _, ok := e.sessionLines()[0]["stats_corrected"]; !ok {
				t.Errorf("the session line does not name the corrected fields: %v", e.sessionLines()[0])
			}
		}},
	{name: "reports its origin work after its Stats", mode: modeOrigin, outcome: stats.OutcomeSuccess, anyJail: true,
		check: func(t *testing.T, e *env) {
			e.waitFor("the origin work counted", func() bool { return e.metric("fbtftp_cache_fills_total", "result", "published") == 1 })
		}},
	{name: "reports its origin work twice", mode: modeOriginTwice, outcome: stats.OutcomeSuccess, anyJail: true,
		violation: master.ViolationExtraMessage, count: 1},
	{name: "lies about its origin work", mode: modeOriginLies, outcome: stats.OutcomeSuccess, anyJail: true,
		violation: master.ViolationImplausibleStats, count: 1,
		check: func(t *testing.T, e *env) {
			if b := e.metric("fbtftp_cache_evicted_bytes_total"); b > 1<<50 {
				t.Errorf("fbtftp_cache_evicted_bytes_total = %g", b)
			}
			if n := e.metric("fbtftp_origin_requests_total"); n > 1e6 {
				t.Errorf("fbtftp_origin_requests_total = %g", n)
			}
		}},
	// Progress reports: faster than the master takes them (an honest
	// worker sends two a second), lies (bounded, and the Stats may not
	// count less than what the reports had counted), after the Stats.
	{name: "floods Progress reports", anyJail: true, mode: modeProgressFlood, outcome: stats.OutcomeWorkerCrash, crashes: 1,
		violation: master.ViolationProgressRate, count: 1},
	{name: "lies in a Progress report", anyJail: true, mode: modeProgressLies, outcome: stats.OutcomeSuccess,
		violation: master.ViolationImplausibleStats, count: 2, // the report, and the Stats below it
		check: func(t *testing.T, e *env) {
			st := e.stats()[0]
			b := e.metric("fbtftp_bytes_total", "direction", "sent")
			if b > 1e12 || b != float64(st.Bytes) {
				t.Errorf("fbtftp_bytes_total = %g, the session's bytes %d", b, st.Bytes)
			}
			if p := e.metric("fbtftp_packets_total", "direction", "sent"); p > 1e9 || p != float64(st.PacketsSent) {
				t.Errorf("fbtftp_packets_total = %g, the session's %d", p, st.PacketsSent)
			}
		}},
	{name: "reports Progress after its Stats", anyJail: true, mode: modeProgressLate, outcome: stats.OutcomeSuccess,
		violation: master.ViolationExtraMessage, count: 1},
	{name: "holds the socket past its deadline", mode: modeHold, outcome: stats.OutcomeWorkerCrash, crashes: 1, killed: 1,
		deadline: time.Second},
	{name: "overruns its deadline after its Stats", mode: modeOverrun, outcome: stats.OutcomeSuccess, deadline: time.Second},
	{name: "closes its end and lingers", mode: modeCloseLinger, outcome: stats.OutcomeWorkerCrash, crashes: 1},
}

// TestHostileWorkers runs every bad worker under each containment: the
// master stays up, accounts the case (counters, metrics, session line),
// frees the slot (MaxWorkers is 1: the next download needs it), reaps
// everything and leaks no descriptor; a child the worker left dies.
func TestHostileWorkers(t *testing.T) {
	for jailName, cgroupDir := range jailModes(t) {
		t.Run(jailName, func(t *testing.T) {
			for _, c := range hostileCases {
				t.Run(c.name, func(t *testing.T) {
					runHostileCase(t, jailName, cgroupDir, c)
				})
			}
		})
	}
}

func runHostileCase(t *testing.T, jailName, cgroupDir string, c hostileCase) {
	e := start(t, cgroupDir, modeGood, func(cfg *master.Config) {
		if c.hello > 0 {
			cfg.HelloTimeout = c.hello
		}
		if c.deadline > 0 {
			cfg.Settings.SessionDeadline = c.deadline
		}
	})
	if want := map[string]string{"cgroup": "cgroup", "pgroup": "process"}[jailName]; e.contained() != want {
		if jailName == "cgroup" {
			t.Skipf("skipping: the master cannot create cgroups here (%s)", e.contained())
		}
		t.Fatalf("contained by %q, want %q", e.contained(), want)
	}
	if c.anyJail && jailName != firstJail(t) {
		t.Skipf("skipping: the containment plays no part (run under %s)", firstJail(t))
	}
	if c.cgroupOnly && jailName != "cgroup" {
		t.Skip("a process that leaves its process group escapes a process-group jail (docs/security.md)")
	}
	baseline := fdCount()
	pidFile := filepath.Join(e.dir, "child.pid")
	e.setMode(c.mode, pidFile)
	e.request("f")
	switch {
	case c.early:
		e.waitFor("the request ended", func() bool {
			c := e.m.Counters()
			return c.Violations[master.ViolationEarlyMessage] >= 1 && (c.Rejected == 1 || len(e.stats()) == 1)
		})
	case c.outcome != "":
		e.waitFor("the session accounted", func() bool { return len(e.stats()) >= 1 })
	case c.spawnFail > 0:
		e.waitFor("the spawn failures", func() bool { return e.m.Counters().SpawnFailures >= c.spawnFail })
	default:
		e.waitFor("the violations", func() bool { return e.m.Counters().Violations[c.violation] >= c.count })
	}
	if c.child {
		e.leftChildGone(pidFile)
	}
	e.idle(baseline)
	cnt := e.m.Counters()
	if c.early {
		if n := cnt.Violations[c.violation]; n < 1 || n > 3 {
			t.Errorf("%d early messages, want 1 to 3", n)
		}
		for _, s := range e.stats() {
			if s.Outcome != stats.OutcomeWorkerCrash {
				t.Errorf("early Stats accounted: %+v", s)
			}
		}
		c.count, c.crashes = cnt.Violations[c.violation], uint64(len(e.stats()))
	}
	switch {
	case c.early:
	case c.outcome == "":
		if n := len(e.stats()); n != 0 {
			t.Errorf("%d sessions accounted, want none: %+v", n, e.stats()[0])
		}
	default:
		ss, lines := e.stats(), e.sessionLines()
		if len(ss) != 1 || ss[0].Outcome != c.outcome || len(lines) != 1 || lines[0]["outcome"] != string(c.outcome) {
			t.Errorf("sessions %+v, lines %v; want one, outcome %s", ss, lines, c.outcome)
		}
		if got := e.metric("fbtftp_sessions_total", "op", "rrq", "outcome", string(c.outcome)); got != 1 {
			t.Errorf("fbtftp_sessions_total{outcome=%s} = %g, want 1", c.outcome, got)
		}
	}
	if cnt.Crashes != c.crashes || cnt.Killed != c.killed || cnt.SpawnFailures < c.spawnFail || (c.spawnFail == 0 && cnt.SpawnFailures > 0) {
		t.Errorf("crashes %d killed %d spawn failures %d; want %d %d %d", cnt.Crashes, cnt.Killed, cnt.SpawnFailures,
			c.crashes, c.killed, c.spawnFail)
	}
	for _, v := range master.Violations {
		want := uint64(0)
		if v == c.violation {
			want = c.count
		}
		if cnt.Violations[v] != want {
			t.Errorf("violation %s: %d, want %d", v, cnt.Violations[v], want)
		}
	}
	if c.check != nil {
		c.check(t, e)
	}
	if c.spawnFail > 0 && e.m.Accepting() {
		t.Error("healthy while workers fail to start")
	}
	e.goodDownload()
	e.idle(baseline)
	if !e.m.Accepting() {
		t.Error("unhealthy after a worker started again")
	}
}

// firstJail is the containment the jail-agnostic cases run under.
func firstJail(t *testing.T) string {
	if _, ok := jailModes(t)["cgroup"]; ok {
		return "cgroup"
	}
	return "pgroup"
}

// TestShutdownWithForkedWorker: SIGTERM still stops the master while a
// worker and the child it started both hold the socketpair and ignore
// SIGTERM: after the drain timeout and the kill grace, both are killed,
// and Run returns.
func TestShutdownWithForkedWorker(t *testing.T) {
	for jailName, cgroupDir := range jailModes(t) {
		t.Run(jailName, func(t *testing.T) {
			e := start(t, cgroupDir, modeGood, nil)
			pidFile := filepath.Join(e.dir, "child.pid")
			e.setMode(modeForkHold, pidFile)
			e.request("f")
			var pid string
			e.waitFor("the worker's child", func() bool {
				b, err := os.ReadFile(pidFile)
				pid = strings.TrimSpace(string(b))
				return err == nil && pid != ""
			})
			t0 := time.Now()
			e.stop()
			t.Logf("stopped in %v", time.Since(t0))
			e.waitFor("the child gone", func() bool { return state(pid) == 0 })
			if z := zombieChildren(); len(z) > 0 {
				t.Errorf("zombies: %v", z)
			}
			if c := e.m.Counters(); c.LiveWorkers != 0 || c.SlotsHeld != 0 {
				t.Errorf("after shutdown: %+v", c)
			}
		})
	}
}
