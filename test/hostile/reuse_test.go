package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// TestHostileReusedWorkers: a reused worker is still untrusted. One that
// says Ready before its Stats, twice, while it still holds its session's
// socket, or when it was not asked to, never gets a second session: it is
// killed, its session accounted once, and the next request is served by
// another worker.
func TestHostileReusedWorkers(t *testing.T) {
	jail := firstJail(t)
	for _, c := range []struct {
		name       string
		mode       string
		perWorker  int
		outcome    stats.Outcome
		crashes    uint64
		violation  master.Violation
		notReused  bool // the master's /proc check refuses it (logged)
		violations uint64
	}{
		{name: "Ready before its Stats", mode: modeReadyEarly, perWorker: 100, outcome: stats.OutcomeWorkerCrash, crashes: 1,
			violation: master.ViolationEarlyMessage, violations: 1},
		{name: "Ready twice", mode: modeReadyTwice, perWorker: 100, outcome: stats.OutcomeSuccess,
			violation: master.ViolationEarlyMessage, violations: 1},
		{name: "Ready holding its session socket", mode: modeReadyHolding, perWorker: 100, outcome: stats.OutcomeSuccess,
			notReused: true},
		{name: "Ready without Reuse", mode: modeReadyUninvited, perWorker: 1, outcome: stats.OutcomeSuccess,
			violation: master.ViolationExtraMessage, violations: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := start(t, jailModes(t)[jail], modeGood, func(cfg *master.Config) {
				cfg.SessionsPerWorker = c.perWorker
				cfg.WorkerIdleTimeout = 300 * time.Millisecond
			})
			baseline := fdCount()
			marker := filepath.Join(e.dir, "second-session")
			e.setMode(c.mode, marker)
			e.request("f")
			e.waitFor("the session accounted", func() bool { return len(e.stats()) == 1 })
			if c.mode == modeReadyTwice {
				// Idle with a second Ready queued: dispatch finds it. Both
				// must have been sent first: a worker descheduled between
				// the two would take the session legitimately (its first
				// Ready made it idle) and be killed only when the second
				// arrives, which is not the case under test.
				e.waitFor("both Readys sent", func() bool { fi, err := os.Stat(marker + ".sent"); return err == nil && fi.Size() > 0 })
				e.waitFor("the worker idle", func() bool { return e.m.Counters().IdleWorkers == 1 })
			}
			e.goodDownload() // another worker serves it
			e.idle(baseline)
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the lying worker was handed a second session")
			}
			ss := e.stats()
			if len(ss) != 2 || ss[0].Outcome != c.outcome || ss[1].Outcome != stats.OutcomeSuccess || ss[0].WorkerPID == ss[1].WorkerPID {
				t.Errorf("sessions %+v; want %s, then a success in another worker", ss, c.outcome)
			}
			cnt := e.m.Counters()
			if cnt.Crashes != c.crashes {
				t.Errorf("crashes %d, want %d", cnt.Crashes, c.crashes)
			}
			for _, v := range master.Violations {
				want := uint64(0)
				if v == c.violation {
					want = c.violations
				}
				if cnt.Violations[v] != want {
					t.Errorf("violation %s: %d, want %d", v, cnt.Violations[v], want)
				}
			}
			if got := strings.Contains(e.logText(), "worker not reused"); got != c.notReused {
				t.Errorf("logged 'worker not reused': %v, want %v\n%s", got, c.notReused, e.logText())
			}
		})
	}
}
