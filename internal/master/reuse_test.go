package master_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// reuse sets SessionsPerWorker to n.
func reuse(n int) func(*master.Config) {
	return func(c *master.Config) { c.SessionsPerWorker = n }
}

// pids returns the worker pid of each session, in order.
func (e *env) pids() []int {
	var out []int
	for _, s := range e.stats() {
		out = append(out, s.WorkerPID)
	}
	return out
}

// settle waits until n sessions are accounted for and one worker is idle:
// a client that got its last packet may ask again before its worker is
// back (then the master starts another one, which the tests that count
// workers must not see).
func (e *env) settle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.stats()) != n || e.m.Counters().IdleWorkers != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d sessions and an idle worker (%d sessions, %d idle)", n, len(e.stats()), e.m.Counters().IdleWorkers)
		}
		time.Sleep(time.Millisecond)
	}
}

// openFDs counts the descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestReuseThousandSessions: one worker serves 1000 sessions one after
// another, downloads and uploads, octet and netascii, options varying,
// each checked byte for byte, and holds no more descriptors after them
// than after the first.
func TestReuseThousandSessions(t *testing.T) {
	const n = 1000
	e := startUploads(t, ipc.FlagCreate|ipc.FlagPermissive, func(c *master.Config) {
		c.SessionsPerWorker = n
		// An upload's session lasts twice this past its final ACK (the
		// dally): keep the thousand short.
		c.Settings.Timeout = 10 * time.Millisecond
	})
	txt := text()
	opts := []client.Options{
		{},
		{Blksize: 1468, Tsize: true},
		{Windowsize: 8, Blksize: 1024},
		{Mode: proto.ModeNetascii},
		{Mode: proto.ModeNetascii, Blksize: 600, Tsize: true},
		{Windowsize: 3},
	}
	var pid, fds0 int
	for i := range n {
		o := opts[i%len(opts)]
		data := pattern(i * 37 % 5000)
		if o.Mode == proto.ModeNetascii {
			data = txt[:i%len(txt)]
		}
		name := fmt.Sprintf("f%d", i%7)
		if i%4 == 0 {
			if _, err := put(t, e.addr, name, o, data); err != nil {
				t.Fatalf("session %d: put %s %+v: %v", i, name, o, err)
			}
			if got, err := os.ReadFile(filepath.Join(e.root, name)); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("session %d: uploaded %d bytes, file has %d (%v)", i, len(data), len(got), err)
			}
		} else {
			if err := os.WriteFile(filepath.Join(e.root, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, _, err := get(t, e.addr, name, o)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("session %d: get %s %+v: %v (got %d bytes, want %d)", i, name, o, err, len(got), len(data))
			}
		}
		if i == n-1 {
			break // the last: the worker exits
		}
		e.settle(t, i+1)
		switch i {
		case 1:
			pid = e.stats()[0].WorkerPID
			fds0 = openFDs(t, pid)
		case n - 2:
			if fds := openFDs(t, pid); fds > fds0 {
				t.Errorf("worker %d: %d descriptors open after %d sessions, %d after the second", pid, fds, i+1, fds0)
			}
		}
	}
	waitFor(t, "stats", func() bool { return len(e.stats()) == n })
	for i, s := range e.stats() {
		if s.WorkerPID != pid || s.Outcome != stats.OutcomeSuccess {
			t.Fatalf("session %d: worker %d, outcome %s; want worker %d, success", i, s.WorkerPID, s.Outcome, pid)
		}
	}
	// The 1000th session was the last: the worker exits after it.
	waitFor(t, "the worker's exit", func() bool { return e.m.Counters().LiveWorkers == 0 })
	c := e.m.Counters()
	if c.Spawns != 1 || c.Crashes != 0 {
		t.Errorf("spawns %d, crashes %d; want 1 and 0", c.Spawns, c.Crashes)
	}
}

// TestReuseNoFDGrowth reads the worker's descriptors from /proc after
// sessions of every kind: their number does not grow.
func TestReuseNoFDGrowth(t *testing.T) {
	e := start(t, reuse(100))
	n := 0
	mustGet := func(name string, o client.Options) {
		t.Helper()
		if _, _, err := get(t, e.addr, name, o); err != nil && name != "missing" {
			t.Fatalf("%s: %v", name, err)
		}
		n++
		e.settle(t, n)
	}
	mustGet("one", client.Options{})
	pid := e.pids()[0]
	before := openFDs(t, pid)
	for range 5 {
		mustGet("big", client.Options{Windowsize: 16, Blksize: 8192})
		mustGet("block", client.Options{Mode: proto.ModeNetascii, Tsize: true})
		mustGet("missing", client.Options{})
	}
	if after := openFDs(t, pid); after > before {
		t.Errorf("worker %d: %d descriptors open after 15 more sessions, %d before", pid, after, before)
	}
	for _, p := range e.pids() {
		if p != pid {
			t.Fatalf("sessions ran in workers %v; want one", e.pids())
		}
	}
}

// TestReuseAfterFailures: an error, a client that vanishes and a handler
// that panics are each followed by a clean session; the worker goes on
// after the first two and is replaced after the panic.
func TestReuseAfterFailures(t *testing.T) {
	e := start(t, func(c *master.Config) { c.SessionsPerWorker = 100 })
	n := 0
	clean := func(i int) {
		t.Helper()
		got, _, err := get(t, e.addr, "big", client.Options{Blksize: 1468})
		if err != nil || !bytes.Equal(got, pattern(300_000)) {
			t.Fatalf("clean session %d: %v (%d bytes)", i, err, len(got))
		}
		n++
		e.settle(t, n)
	}
	clean(0)
	// An error.
	if _, _, err := get(t, e.addr, "missing", client.Options{}); !errors.Is(err, tftp.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	n++
	e.settle(t, n)
	clean(1)
	// A client that vanishes after the first block.
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendRequest(proto.OpRRQ, "big", "octet", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Recv(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.Close()
	n++
	e.settle(t, n)
	clean(2)
	// A panic: the worker exits after it.
	if _, _, err := get(t, e.addr, "panic", client.Options{}); err == nil {
		t.Fatal("panic: no error")
	}
	waitFor(t, "the panicked worker's exit", func() bool { return len(e.stats()) == 6 && e.m.Counters().LiveWorkers == 0 })
	n++
	clean(3)
	waitFor(t, "7 sessions", func() bool { return len(e.stats()) == 7 })
	st := e.stats()
	want := []stats.Outcome{stats.OutcomeSuccess, stats.OutcomeNotFound, stats.OutcomeSuccess, stats.OutcomeTimeout,
		stats.OutcomeSuccess, stats.OutcomeServerError, stats.OutcomeSuccess}
	for i, s := range st {
		if s.Outcome != want[i] {
			t.Errorf("session %d: outcome %s, want %s", i, s.Outcome, want[i])
		}
		if i > 0 && i < 6 && s.WorkerPID != st[0].WorkerPID {
			t.Errorf("session %d ran in worker %d, not %d: not reused", i, s.WorkerPID, st[0].WorkerPID)
		}
	}
	if st[6].WorkerPID == st[5].WorkerPID {
		t.Errorf("the session after a panic ran in the worker that panicked (%d)", st[6].WorkerPID)
	}
	if c := e.m.Counters(); c.Crashes != 0 {
		t.Errorf("%d crashes", c.Crashes)
	}
}

// TestReuseExitsAtN: a worker serves SessionsPerWorker sessions, then
// exits; an idle one exits after WorkerIdleTimeout.
func TestReuseExitsAtN(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.SessionsPerWorker = 3
		c.WorkerIdleTimeout = 300 * time.Millisecond
	})
	for i := range 7 {
		if _, _, err := get(t, e.addr, "one", client.Options{}); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		waitFor(t, "stats", func() bool { return len(e.stats()) == i+1 })
	}
	p := e.pids()
	if !(p[0] == p[1] && p[1] == p[2] && p[3] == p[4] && p[4] == p[5] && p[2] != p[3] && p[5] != p[6] && p[6] != p[0]) {
		t.Fatalf("workers by session %v; want three sessions each", p)
	}
	for _, pid := range []int{p[0], p[3]} {
		waitFor(t, "a worker that served 3 sessions to exit", func() bool {
			return syscall.Kill(pid, 0) == syscall.ESRCH
		})
	}
	// The third worker served one session: idle, it is closed.
	waitFor(t, "the idle worker to exit", func() bool { return e.m.Counters().LiveWorkers == 0 })
	if c := e.m.Counters(); c.Spawns != 3 || c.Crashes != 0 {
		t.Errorf("spawns %d, crashes %d; want 3 and 0", c.Spawns, c.Crashes)
	}
}

// TestReuseKilledWorker: a worker killed during a session costs that
// session only.
func TestReuseKilledWorker(t *testing.T) {
	e := start(t, reuse(100))
	for i := range 3 {
		if _, _, err := get(t, e.addr, "one", client.Options{}); err != nil {
			t.Fatal(err)
		}
		e.settle(t, i+1)
	}
	pid := e.pids()[0]
	if p := e.pids(); p[1] != pid || p[2] != pid {
		t.Fatalf("workers by session %v: not reused", p)
	}
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendRequest(proto.OpRRQ, "slow", "octet", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Recv(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the killed session", func() bool { return len(e.stats()) == 4 })
	for i := range 3 {
		if got, _, err := get(t, e.addr, "big", client.Options{}); err != nil || len(got) != 300_000 {
			t.Fatalf("session %d after the kill: %v", i, err)
		}
	}
	waitFor(t, "7 sessions", func() bool { return len(e.stats()) == 7 })
	crashed := 0
	for i, st := range e.stats() {
		switch {
		case st.Outcome == stats.OutcomeWorkerCrash:
			crashed++
			if i != 3 {
				t.Errorf("session %d crashed", i)
			}
		case st.Outcome != stats.OutcomeSuccess:
			t.Errorf("session %d: %s", i, st.Outcome)
		}
	}
	if crashed != 1 {
		t.Errorf("%d sessions crashed, want 1", crashed)
	}
}

// TestReuseBounds: a worker that leaves a descriptor open after its
// session, or whose resident set is over WorkerMaxRSS, is not reused.
func TestReuseBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		maxRSS int64
	}{
		{"descriptor", "leak", 0},
		{"memory", "one", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, func(c *master.Config) {
				c.SessionsPerWorker = 100
				c.WorkerMaxRSS = tc.maxRSS
			})
			for i := range 3 {
				if got, _, err := get(t, e.addr, tc.file, client.Options{}); err != nil || len(got) != 1 {
					t.Fatalf("session %d: %v", i, err)
				}
				waitFor(t, "stats", func() bool { return len(e.stats()) == i+1 })
			}
			p := e.pids()
			if p[0] == p[1] || p[1] == p[2] || p[0] == p[2] {
				t.Errorf("workers by session %v: a worker over its bound was reused", p)
			}
			for _, s := range e.stats() {
				if s.Outcome != stats.OutcomeSuccess {
					t.Errorf("outcome %s: the session before the check must not suffer", s.Outcome)
				}
			}
		})
	}
}

// TestReuseOff: by default every session has a fresh worker.
func TestReuseOff(t *testing.T) {
	e := start(t, nil)
	for range 3 {
		if _, _, err := get(t, e.addr, "one", client.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "stats", func() bool { return len(e.stats()) == 3 })
	if p := e.pids(); p[0] == p[1] || p[1] == p[2] {
		t.Errorf("workers by session %v: reused without SessionsPerWorker", p)
	}
}

// TestReuseReload: Reload closes the idle reused workers; the session after
// it runs in a new worker, with the new configuration (a map rule).
func TestReuseReload(t *testing.T) {
	e := start(t, reuse(100))
	if _, _, err := get(t, e.addr, "alias", client.Options{}); !errors.Is(err, tftp.ErrNotFound) {
		t.Fatalf("before the reload: %v", err)
	}
	e.settle(t, 1)
	rules := "r ^alias$ one\n"
	wc, err := ipc.SealWorkerConfig(&ipc.WorkerConfig{MapRules: []byte(rules)})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := remap.Parse(strings.NewReader(rules))
	if err != nil {
		t.Fatal(err)
	}
	if n := e.m.Reload(wc, parsed); n != 1 {
		t.Errorf("Reload closed %d workers, want the idle reused one", n)
	}
	if got, _, err := get(t, e.addr, "alias", client.Options{}); err != nil || len(got) != 1 {
		t.Fatalf("after the reload: %v", err)
	}
	waitFor(t, "2 sessions", func() bool { return len(e.stats()) == 2 })
	if p := e.pids(); p[0] == p[1] {
		t.Errorf("the session after the reload ran in the worker from before it (%d)", p[0])
	}
}
