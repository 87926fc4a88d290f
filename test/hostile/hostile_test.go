package hostile

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

func TestMain(m *testing.M) {
	if f := os.Getenv(workerEnv); f != "" {
		os.Exit(runFakeWorker(f))
	}
	os.Exit(m.Run())
}

// Timings of the hostile masters: long enough for a worker start on a
// loaded machine, short where a case waits for them (hostileCase).
const (
	helloTimeout    = 10 * time.Second
	sessionDeadline = 10 * time.Second
	killGrace       = 300 * time.Millisecond
)

// env is an in-process master whose workers are fake workers.
type env struct {
	t        *testing.T
	m        *master.Master
	addr     netip.AddrPort
	modeFile string
	dir      string
	logs     *observer.ObservedLogs
	reg      *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error

	mu       sync.Mutex
	sessions []*stats.SessionStats
}

// start runs a master with MaxWorkers 1 (a leaked slot shows at once),
// the given containment, and fake workers in mode; mod changes the
// configuration further.
func start(t *testing.T, cgroupDir, mode string, mod func(*master.Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), done: make(chan error, 1), reg: prometheus.NewRegistry()}
	e.modeFile = filepath.Join(e.dir, "mode")
	e.setMode(mode)
	ls, err := udp.Listen(udp.ListenSpec{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, udp.AnyFamily)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	e.logs = logs
	cfg := master.Config{
		Listeners:  ls,
		WorkerPath: os.Args[0],
		WorkerEnv:  []string{workerEnv + "=" + e.modeFile},
		Settings: ipc.Settings{Timeout: 200 * time.Millisecond, Retries: 2, Roots: []string{e.dir},
			SessionDeadline: sessionDeadline},
		MaxWorkers:   1,
		HelloTimeout: helloTimeout,
		KillGrace:    killGrace,
		DrainTimeout: time.Second,
		CgroupDir:    cgroupDir,
		ReapOrphans:  true,
		Logger:       zap.New(core),
		Observer:     metrics.New(e.reg, nil, "test"),
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
	t.Cleanup(e.stop)
	return e
}

func (e *env) setMode(mode string, arg ...string) {
	e.t.Helper()
	if err := writeMode(e.modeFile, mode, strings.Join(arg, " ")); err != nil {
		e.t.Fatal(err)
	}
}

// stop stops the master: SIGTERM-like shutdown must end, whatever the
// workers did.
func (e *env) stop() {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done <- err
	case <-time.After(20 * time.Second):
		e.t.Fatalf("the master did not stop\n%s", e.logText())
	}
}

func (e *env) stats() []*stats.SessionStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*stats.SessionStats(nil), e.sessions...)
}

// logText renders the master's log, for failures.
func (e *env) logText() string {
	var b strings.Builder
	for _, l := range e.logs.All() {
		fmt.Fprintf(&b, "%s %s %v\n", l.Level, l.Message, l.ContextMap())
	}
	return b.String()
}

// sessionLines returns the "session" log lines.
func (e *env) sessionLines() []map[string]any {
	var out []map[string]any
	for _, l := range e.logs.FilterMessage("session").All() {
		out = append(out, l.ContextMap())
	}
	return out
}

// request sends one RRQ from a fresh port and closes the port: the
// workers here never transfer anything.
func (e *env) request(file string) {
	e.t.Helper()
	s, err := client.NewSession(e.addr, netip.AddrPort{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Close()
	if err := s.SendRequest(proto.OpRRQ, file, "octet", nil); err != nil {
		e.t.Fatal(err)
	}
}

// waitFor polls cond for up to 15 s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s\ncounters %+v\n%s", what, e.m.Counters(), e.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idle waits until the master holds no slot, no worker and no zombie, and
// has as many descriptors open as at baseline.
func (e *env) idle(baselineFDs int) {
	e.t.Helper()
	e.waitFor("slot freed, workers reaped, no zombie, descriptors back to baseline", func() bool {
		c := e.m.Counters()
		return c.SlotsHeld == 0 && c.LiveWorkers == 0 && c.Inflight == 0 && len(zombieChildren()) == 0 && fdCount() <= baselineFDs
	})
}

// goodDownload checks that the master serves again (with MaxWorkers 1: the
// slot was freed).
func (e *env) goodDownload() {
	e.t.Helper()
	e.setMode(modeGood)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	if _, err := client.Get(ctx, e.addr, "after", client.Options{Timeout: 500 * time.Millisecond}, &buf); err != nil || buf.Len() != 1000 {
		e.t.Fatalf("download after the hostile worker: %v (%d bytes)\n%s", err, buf.Len(), e.logText())
	}
}

func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
		}
	}
	return 0
}

// fdCount is the number of descriptors the test process has open.
func fdCount() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// zombieChildren lists the test process's children that are zombies.
func zombieChildren() []int {
	var out []int
	ents, _ := os.ReadDir("/proc/self/task")
	for _, task := range ents {
		b, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if state(f) == 'Z' {
				pid, _ := strconv.Atoi(f)
				out = append(out, pid)
			}
		}
	}
	return out
}

// state is a process's state letter from /proc/PID/stat, 0 if it is gone.
func state(pid string) byte {
	st, err := os.ReadFile("/proc/" + pid + "/stat")
	if i := bytes.LastIndexByte(st, ')'); err == nil && i > 0 && i+2 < len(st) {
		return st[i+2]
	}
	return 0
}

// jailModes are the containments the suite runs under: a cgroup per worker
// where the test can create cgroups, and process groups.
func jailModes(t *testing.T) map[string]string {
	modes := map[string]string{"pgroup": master.CgroupNone}
	if os.Geteuid() == 0 {
		modes["cgroup"] = "" // the test process's own cgroup
	}
	return modes
}

// leftChildGone checks that the child a forking worker left is dead: gone,
// not even a zombie.
func (e *env) leftChildGone(pidFile string) {
	e.t.Helper()
	var pid string
	e.waitFor("the worker's child", func() bool {
		b, err := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		return err == nil && pid != ""
	})
	e.waitFor("the worker's child gone", func() bool { return state(pid) == 0 })
}

// contained reports the jail kind the master logged at start.
func (e *env) contained() string {
	for _, l := range e.logs.All() {
		if k, ok := strings.CutPrefix(l.Message, "workers contained by "); ok {
			return strings.Fields(k)[0]
		}
	}
	return ""
}
