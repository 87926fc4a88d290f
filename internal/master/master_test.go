package master_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// The test binary doubles as the worker (helper-process pattern): with
// FBTFTP_TEST_WORKER set, TestMain runs a worker instead of the tests.
const workerEnv = "FBTFTP_TEST_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(workerEnv); mode != "" {
		os.Exit(runWorker(mode))
	}
	os.Exit(m.Run())
}

func runWorker(mode string) int {
	if gate := os.Getenv(helloGateEnv); gate != "" {
		for range 6000 { // 60 s at most
			if _, err := os.Stat(gate); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if mode == "limits" {
		// Reports its memory bounds in its stats' error message.
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_DATA, &lim)
		limits := fmt.Sprintf("data=%d gogc=%s gomemlimit=%s godebug=%s", lim.Cur, os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), os.Getenv("GODEBUG"))
		h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
			return nil, &tftp.Error{Code: tftp.CodeUndefined, Message: limits}
		})
		if err := fbtftp.ServeWorker(context.Background(), h, fbtftp.WorkerConfig{}); err != nil {
			return 1
		}
		return 0
	}
	if f := os.Getenv(failFileEnv); f != "" {
		if _, err := os.Stat(f); err == nil {
			return 2 // a worker that cannot start, while the file exists
		}
	}
	files, _ := fileserver.New(fileserver.Config{})
	h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
		switch name := strings.TrimLeft(r.Filename, "/"); {
		case mode == "crash" || r.Filename == "crash":
			os.Exit(3)
		case name == "disconnect":
			// Hostile: disconnect the session socket (single-port mode:
			// it would take the listener's requests), then hold it.
			disconnectUDPSockets()
			<-ctx.Done()
			return nil, ctx.Err()
		case name == "hang":
			<-ctx.Done() // until the session ends (deadline, shutdown)
			return nil, ctx.Err()
		case r.Filename == "stuck":
			// Ignores its context, its deadline and SIGTERM: only the
			// master's kill ends it.
			signal.Ignore(syscall.SIGTERM)
			time.Sleep(time.Hour)
		case name == "panic":
			panic("test handler panic")
		case name == "leak":
			// A handler that leaves a file open after its session.
			if f, err := os.Open(filepath.Join(r.Settings.Roots[0], "one")); err == nil {
				leaked = append(leaked, f)
			}
			return fbtftp.BytesResponse(pattern(1)), nil
		case r.Filename == "slow":
			// A file that takes long to send: 2 MiB at blksize 512.
			return fbtftp.BytesResponse(make([]byte, 2<<20)), nil
		}
		return files.ServeTFTP(ctx, r)
	})
	// No signal handler, like the stock workers: the master stops a
	// session by shutting down its end of the socketpair (TestShutdownDrains
	// fails if it sends SIGTERM instead: the worker dies without Stats).
	ctx := context.Background()
	var served fbtftp.Handler = h
	if mark := os.Getenv(drainMarkEnv); mark != "" {
		served = drainer{Handler: h, mark: mark, obey: mode != "stubborn"}
	}
	if until := os.Getenv(drainUntilEnv); until != "" {
		served = drainUntil{Handler: h, file: until}
	}
	if err := fbtftp.ServeWorker(ctx, served, fbtftp.WorkerConfig{}); err != nil {
		return 1
	}
	return 0
}

// leaked holds what the "leak" handler left open.
var leaked []*os.File

// drainMarkEnv, when set, makes the test worker a Drainer: after its
// session it waits 1 s (past its context's end too, in mode "stubborn"),
// then creates the file the variable names.
const drainMarkEnv = "FBTFTP_TEST_DRAIN_MARK"

type drainer struct {
	fbtftp.Handler
	mark string
	obey bool
}

func (d drainer) Drain(ctx context.Context) error {
	done := ctx.Done()
	if !d.obey {
		done = nil
	}
	select {
	case <-time.After(time.Second):
	case <-done:
		return ctx.Err()
	}
	if !d.obey {
		time.Sleep(time.Minute) // the master's deadline kills it first
	}
	return os.WriteFile(d.mark, nil, 0o644)
}

// helloGateEnv names a file: the test worker starts (says Hello) only once
// it exists.
const helloGateEnv = "FBTFTP_TEST_HELLO_GATE"

// failFileEnv names a file: while it exists, the test worker exits before
// its Hello (every worker start fails).
const failFileEnv = "FBTFTP_TEST_FAIL_FILE"

// drainUntilEnv names a file: the test worker is a Drainer whose drain
// lasts until that file exists (or its context ends).
const drainUntilEnv = "FBTFTP_TEST_DRAIN_UNTIL"

type drainUntil struct {
	fbtftp.Handler
	file string
}

func (d drainUntil) Drain(ctx context.Context) error {
	for range 6000 { // 60 s at most
		if _, err := os.Stat(d.file); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

type env struct {
	m      *master.Master
	addr   netip.AddrPort
	root   string
	cancel context.CancelFunc
	done   chan error

	mu       sync.Mutex
	sessions []*stats.SessionStats
}

func (e *env) stats() []*stats.SessionStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*stats.SessionStats(nil), e.sessions...)
}

func start(t *testing.T, mod func(*master.Config)) *env {
	t.Helper()
	root := t.TempDir()
	for name, size := range map[string]int{"empty": 0, "one": 1, "block": 512, "big": 300_000} {
		if err := os.WriteFile(filepath.Join(root, name), pattern(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := udp.Listen(udp.ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, udp.AnyFamily)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{root: root, done: make(chan error, 1)}
	cfg := master.Config{
		Listeners:  ls,
		WorkerPath: os.Args[0],
		WorkerEnv:  []string{workerEnv + "=files"},
		Settings: ipc.Settings{
			Timeout: 200 * time.Millisecond, Retries: 3, Roots: []string{root}, Flags: ipc.FlagSecure,
			SessionDeadline: time.Minute,
		},
		DrainTimeout: 5 * time.Second,
		KillGrace:    time.Second,
		OnSession: func(s *stats.SessionStats) {
			e.mu.Lock()
			e.sessions = append(e.sessions, s)
			e.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	e.m, err = master.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ls[0].LocalAddr()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.m.Run(ctx) }()
	<-e.m.Started()
	t.Cleanup(func() {
		e.stop(t)
	})
	return e
}

func (e *env) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		e.done <- err // for a second stop
	case <-time.After(20 * time.Second):
		t.Fatal("master did not stop")
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func get(t *testing.T, addr netip.AddrPort, file string, o client.Options) ([]byte, client.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	var buf bytes.Buffer
	res, err := client.Get(ctx, addr, file, o, &buf)
	return buf.Bytes(), res, err
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDownloads(t *testing.T) {
	for _, prefork := range []int{0, 2} {
		t.Run(fmt.Sprintf("prefork%d", prefork), func(t *testing.T) {
			e := start(t, func(c *master.Config) { c.Prefork = prefork })
			for _, name := range []string{"empty", "one", "block", "big"} {
				for _, o := range []client.Options{{}, {Blksize: 1468, Tsize: true}, {Windowsize: 16, Blksize: 8192}} {
					got, res, err := get(t, e.addr, name, o)
					want, _ := os.ReadFile(filepath.Join(e.root, name))
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s %+v: %v (got %d bytes, want %d)", name, o, err, len(got), len(want))
					}
					if res.Peer.Addr() != e.addr.Addr() || res.Peer.Port() == e.addr.Port() {
						t.Errorf("reply from %v", res.Peer)
					}
					if o.Tsize && len(want) > 0 && res.Tsize != int64(len(want)) {
						t.Errorf("tsize %d", res.Tsize)
					}
				}
			}
			waitFor(t, "stats", func() bool { return len(e.stats()) == 12 })
			for _, s := range e.stats() {
				if s.Outcome != stats.OutcomeSuccess || s.SessionID == "" || s.WorkerPID == 0 {
					t.Errorf("stats %+v", s)
				}
			}
			for kind, n := range e.m.Counters().Violations {
				if n != 0 {
					t.Errorf("honest workers counted %d violations %s", n, kind)
				}
			}
			if prefork > 0 {
				waitFor(t, "pool refilled", func() bool { return e.m.Counters().IdleWorkers == int64(prefork) })
			}
		})
	}
}

func TestErrors(t *testing.T) {
	e := start(t, nil)
	cases := []struct {
		file string
		code proto.ErrorCode
	}{{"missing", proto.ErrNotFound}, {"../etc/passwd", proto.ErrAccessViolation}, {"/", proto.ErrAccessViolation}}
	for _, c := range cases {
		_, _, err := get(t, e.addr, c.file, client.Options{})
		var se *tftp.Error
		if !errors.As(err, &se) || se.Code != c.code {
			t.Errorf("%s: %v, want code %d", c.file, err, c.code)
		}
	}
	// Unknown mode and WRQ are answered by the master itself.
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		op   proto.Opcode
		mode string
		code proto.ErrorCode
	}{{proto.OpRRQ, "mail", proto.ErrIllegalOp}, {proto.OpWRQ, "octet", proto.ErrAccessViolation}} {
		if err := s.SendRequest(c.op, "x", c.mode, nil); err != nil {
			t.Fatal(err)
		}
		p, err := s.RecvPacket(5 * time.Second)
		if err != nil || p.Op != proto.OpERROR || p.Error.Code != c.code || p.From != e.addr {
			t.Errorf("%v %s: %+v %v", c.op, c.mode, p, err)
		}
	}
	if n := e.m.Counters().Spawns; n != 3 {
		t.Errorf("spawns %d, want 3 (one per file request)", n)
	}
}

func TestMalformedFloodSpawnsNothing(t *testing.T) {
	e := start(t, nil)
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	junk := [][]byte{{}, {0}, {0, 1}, {0, 1, 'a'}, {0, 3, 0, 1, 'x'}, {0, 4, 0, 1}, {0, 9, 'a', 0, 'b', 0},
		{0, 1, 'f', 0, 'o', 'c', 't', 'e', 't'}, {0, 1, 0, 'o', 'c', 't', 'e', 't', 0}}
	const n = 10_000
	for i := range n {
		if err := s.Send(junk[i%len(junk)]); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 { // do not overrun the socket buffer: this is about parsing
			time.Sleep(time.Millisecond)
		}
	}
	got, _, err := get(t, e.addr, "big", client.Options{Blksize: 1468})
	if err != nil || len(got) != 300_000 {
		t.Fatalf("legitimate download during flood: %v", err)
	}
	waitFor(t, "flood counted", func() bool { return e.m.Counters().Malformed >= n*9/10 })
	c := e.m.Counters()
	if c.Spawns != 1 || c.Accepted != 1 {
		t.Fatalf("spawns %d accepted %d, want 1 (the legitimate request only)", c.Spawns, c.Accepted)
	}
	if p, err := s.RecvPacket(200 * time.Millisecond); err == nil {
		t.Fatalf("junk was answered: %+v", p)
	}
}

func TestWorkerCrash(t *testing.T) {
	e := start(t, func(c *master.Config) { c.Prefork = 1 })
	_, _, err := get(t, e.addr, "crash", client.Options{Retries: -1, Timeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("download of a crashing worker succeeded")
	}
	waitFor(t, "crash counted", func() bool { return e.m.Counters().Crashes == 1 })
	ss := e.stats()
	if len(ss) != 1 || ss[0].Outcome != stats.OutcomeWorkerCrash || ss[0].Filename != "crash" {
		t.Fatalf("stats %+v", ss)
	}
	if got, _, err := get(t, e.addr, "big", client.Options{}); err != nil || len(got) != 300_000 {
		t.Fatalf("after crash: %v", err)
	}
}

func TestWorkerKilledMidTransfer(t *testing.T) {
	e := start(t, nil)
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SendRequest(proto.OpRRQ, "slow", "octet", nil)
	p, err := s.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	// Do not ACK: the worker waits in its retransmit loop. Kill it.
	var pid int
	waitFor(t, "worker pid", func() bool {
		pid = childPID(t, os.Getpid())
		return pid > 0
	})
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "crash counted", func() bool { return e.m.Counters().Crashes == 1 })
	if got, _, err := get(t, e.addr, "one", client.Options{}); err != nil || len(got) != 1 {
		t.Fatalf("after kill: %v", err)
	}
}

// childPID returns the pid of a child process of parent, or 0.
func childPID(t *testing.T, parent int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	for _, task := range tasks(parent) {
		b2, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, task))
		b = append(append(b, ' '), b2...)
	}
	var pid int
	for _, f := range strings.Fields(string(b)) {
		fmt.Sscan(f, &pid)
		return pid
	}
	return 0
}

func tasks(pid int) []int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, e := range ents {
		var n int
		fmt.Sscan(e.Name(), &n)
		out = append(out, n)
	}
	return out
}

// TestBusyAndDuplicates: with BusyError, a request beyond MaxWorkers is
// refused with ERROR 0 "server busy" (TestStorm: without, it waits).
func TestBusyAndDuplicates(t *testing.T) {
	e := start(t, func(c *master.Config) { c.MaxWorkers, c.BusyError = 1, true })
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
	waitFor(t, "session in flight", func() bool { return e.m.Counters().Accepted == 1 })
	// The same request again (a client retransmitting its RRQ) is dropped.
	s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
	waitFor(t, "duplicate", func() bool { return e.m.Counters().Duplicates == 1 })
	// Another client is told the server is busy.
	_, _, err = get(t, e.addr, "one", client.Options{Retries: -1})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != proto.ErrUndefined || se.Message != "server busy" {
		t.Fatalf("%v", err)
	}
	if c := e.m.Counters(); c.Busy != 1 || c.Spawns != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// TestSessionDeadlineKillsWorker: a worker that ignores its session
// deadline, its context and SIGTERM is killed by the master once the
// deadline and the kill grace have passed; the session is accounted as a
// crash killed at its deadline, the worker is reaped and its slot freed.
func TestSessionDeadlineKillsWorker(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.Settings.SessionDeadline = 300 * time.Millisecond
		c.KillGrace = 200 * time.Millisecond
		c.MaxWorkers = 1
	})
	s, _ := client.NewSession(e.addr, netip.AddrPort{})
	defer s.Close()
	s.SendRequest(proto.OpRRQ, "stuck", "octet", nil)
	waitFor(t, "session ended", func() bool { return len(e.stats()) == 1 })
	if st := e.stats()[0]; st.Outcome != stats.OutcomeWorkerCrash {
		t.Fatalf("outcome %s, want worker_crash (the master's kill)", st.Outcome)
	}
	c := e.m.Counters()
	if c.Killed != 1 || c.Crashes != 1 {
		t.Fatalf("killed %d crashes %d, want 1 and 1", c.Killed, c.Crashes)
	}
	waitFor(t, "worker reaped and its slot freed", func() bool {
		c := e.m.Counters()
		return c.LiveWorkers == 0 && c.SlotsHeld == 0
	})
	if zombies := zombieChildren(); len(zombies) > 0 {
		t.Fatalf("zombies: %v", zombies)
	}
	if got, _, err := get(t, e.addr, "one", client.Options{}); err != nil || len(got) != 1 {
		t.Fatalf("after the kill, with --max-workers 1: %v", err)
	}
}

// zombieChildren lists the test process's children that are zombies.
func zombieChildren() []int {
	var out []int
	for _, task := range tasks(os.Getpid()) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), task))
		for _, f := range strings.Fields(string(b)) {
			st, _ := os.ReadFile("/proc/" + f + "/stat")
			// pid (comm) state ...: the state follows the last ')'.
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				var pid int
				fmt.Sscan(f, &pid)
				out = append(out, pid)
			}
		}
	}
	return out
}

func TestShutdownDrains(t *testing.T) {
	e := start(t, func(c *master.Config) {
		c.Prefork = 2
		c.DrainTimeout = 300 * time.Millisecond
		c.KillGrace = 500 * time.Millisecond
	})
	s, _ := client.NewSession(e.addr, netip.AddrPort{})
	defer s.Close()
	s.SendRequest(proto.OpRRQ, "hang", "octet", nil)
	waitFor(t, "session in flight", func() bool { return e.m.Counters().Accepted == 1 })
	start := time.Now()
	e.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if c := e.m.Counters(); c.LiveWorkers != 0 {
		t.Errorf("live workers after shutdown: %d", c.LiveWorkers)
	}
	if pid := childPID(t, os.Getpid()); pid != 0 {
		t.Errorf("child %d left after shutdown", pid)
	}
	ss := e.stats()
	if len(ss) != 1 || ss[0].Outcome != stats.OutcomeShutdown {
		t.Fatalf("stats %+v", ss)
	}
	// The client was told.
	p, err := s.RecvPacket(time.Second)
	if err != nil || p.Op != proto.OpERROR {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestDrainAfterSession: a worker with work left after its session (a
// Drainer) has its session accounted at once, keeps running until it is
// done and is then reaped; one that never finishes is killed at the
// session deadline.
func TestDrainAfterSession(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "drained")
	e := start(t, func(c *master.Config) {
		c.WorkerEnv = []string{workerEnv + "=files", drainMarkEnv + "=" + mark}
	})
	if _, _, err := get(t, e.addr, "one", client.Options{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "session accounted", func() bool { return len(e.stats()) == 1 })
	if _, err := os.Stat(mark); err == nil {
		t.Fatal("the session was accounted only after the drain")
	}
	if c := e.m.Counters(); c.LiveWorkers != 1 || c.Inflight != 0 {
		t.Fatalf("while draining: %+v", c)
	}
	waitFor(t, "drain done", func() bool { _, err := os.Stat(mark); return err == nil })
	waitFor(t, "worker reaped", func() bool { return e.m.Counters().LiveWorkers == 0 })

	// A drain that ignores its context is killed at the deadline.
	mark2 := filepath.Join(t.TempDir(), "never")
	e2 := start(t, func(c *master.Config) {
		c.Settings.SessionDeadline = 500 * time.Millisecond
		c.KillGrace = 200 * time.Millisecond
		c.WorkerEnv = []string{workerEnv + "=stubborn", drainMarkEnv + "=" + mark2}
	})
	if _, _, err := get(t, e2.addr, "one", client.Options{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stubborn worker killed", func() bool { return e2.m.Counters().LiveWorkers == 0 })
	if _, err := os.Stat(mark2); err == nil {
		t.Fatal("the stubborn drain finished")
	}
	if n := len(e2.stats()); n != 1 || e2.stats()[0].Outcome != stats.OutcomeSuccess {
		t.Fatalf("sessions %d, %+v", n, e2.stats())
	}
}

// TestSpawnBudget: with MaxSpawning 1, the refills of a pool of 2 start
// one worker at a time (without it, two at once).
func TestSpawnBudget(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	e := start(t, func(c *master.Config) {
		c.WorkerEnv = []string{workerEnv + "=files", helloGateEnv + "=" + gate}
		c.Prefork = 2
		c.MaxSpawning = 1
	})
	waitFor(t, "a worker starting", func() bool { return len(children(os.Getpid())) >= 1 })
	// Without the budget the second refill starts its worker at once.
	for range 50 {
		if n := len(children(os.Getpid())); n > 1 {
			t.Fatalf("%d workers starting at once, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pool full", func() bool { return e.m.Counters().IdleWorkers == 2 })
}

// TestWorkerMemoryLimit: a worker runs with the hard data limit, GOGC=off
// and half the limit as GOMEMLIMIT, and without memory profiling; no limit
// leaves the runtime's defaults.
func TestWorkerMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		limit int64
		want  string
	}{
		{master.DefaultWorkerMemoryLimit, fmt.Sprintf("data=%d gogc=off gomemlimit=%d godebug=memprofilerate=0", master.DefaultWorkerMemoryLimit, master.DefaultWorkerMemoryLimit/2)},
		{0, fmt.Sprintf("data=%d gogc= gomemlimit= godebug=memprofilerate=0", uint64(unix.RLIM_INFINITY))},
	} {
		if c.limit > 0 && raceEnabled {
			continue // ThreadSanitizer cannot map its shadow memory under a data limit
		}
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		t.Setenv("GODEBUG", "")
		os.Unsetenv("GOGC")
		os.Unsetenv("GOMEMLIMIT")
		os.Unsetenv("GODEBUG")
		e := start(t, func(cfg *master.Config) {
			cfg.WorkerEnv = []string{workerEnv + "=limits"}
			cfg.WorkerMemoryLimit = c.limit
		})
		s, err := client.NewSession(e.addr, netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		s.SendRequest(proto.OpRRQ, "one", "octet", nil)
		p, err := s.RecvPacket(10 * time.Second)
		s.Close()
		if err != nil || p.Op != proto.OpERROR || p.Error.Message != c.want {
			t.Errorf("limit %d: %+v %v, want %q", c.limit, p, err, c.want)
		}
		e.stop(t)
	}
}

// children lists pid's child processes.
func children(pid int) []int {
	var out []int
	for _, task := range tasks(pid) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, task))
		for _, f := range strings.Fields(string(b)) {
			var c int
			fmt.Sscan(f, &c)
			out = append(out, c)
		}
	}
	return out
}
