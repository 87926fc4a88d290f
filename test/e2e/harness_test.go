// Package e2e starts the real fbtftp-master and fbtftp-worker binaries and
// drives them with the project's scripted client and with real TFTP clients
// (curl, tftp-hpa, atftp, busybox).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// bin holds the binaries built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fbtftp-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	bin = dir
	root, err := testenv.RepoRoot()
	if err == nil {
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/fbtftp-master", "./cmd/fbtftp-worker", "./cmd/fbtftp-worker-http", "./cmd/fbtftp-top", "./examples/static", "./examples/httpbacked", "./examples/grub", "./examples/stats", "./examples/codegen", "./examples/codegen/minimal")
		cmd.Dir = root
		// Static binaries, as the Makefile builds them: no cgo, so the
		// sandbox sets no_new_privs on every thread.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		err = cmd.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a process under test (fbtftp-master, mostly) as a
// testenv.Process: its own process group, its log parsed.
type proc struct {
	t   *testing.T
	cmd *exec.Cmd
	*testenv.Process
}

// startProc starts cmd (its standard error captured, unless cmd sets it)
// and stops it, with what it forked, in t.Cleanup.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(cmd.Path), tail(p.Output(), 6000))
		}
	})
	return &proc{t: t, cmd: cmd, Process: p}
}

func (p *proc) log() string { return p.Output() }

// find returns the log lines whose msg is msg.
func (p *proc) find(msg string) []map[string]any { return p.Lines(msg) }

// waitLog waits until n lines with msg were logged and returns them.
func (p *proc) waitLog(msg string, n int) []map[string]any {
	p.t.Helper()
	ls, ok := p.WaitLines(msg, n, 20*time.Second)
	if !ok {
		p.t.Fatalf("%d %q log lines, want %d\n%s", len(ls), msg, n, tail(p.log(), 4000))
	}
	return ls
}

// listening waits for n "listening" lines and returns their addresses.
func (p *proc) listening(n int) []netip.AddrPort {
	p.t.Helper()
	var out []netip.AddrPort
	for _, m := range p.waitLog("listening", n) {
		a, err := netip.ParseAddrPort(fmt.Sprint(m["address"]))
		if err != nil {
			p.t.Fatalf("listening line %v: %v", m, err)
		}
		out = append(out, a)
	}
	return out
}

// wait waits up to d for the process to exit and returns its status.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	code, err := p.Wait(d)
	if err != nil {
		p.t.Fatalf("%v\n%s", err, tail(p.log(), 4000))
	}
	// The last lines may still be in the pipe (workers leave last).
	select {
	case <-p.OutputDone():
	case <-time.After(5 * time.Second):
	}
	return code
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// server is a running fbtftp-master, listening.
type server struct {
	*proc
	addr netip.AddrPort
	root string
}

// startMaster runs fbtftp-master with argv and waits until it listens. It
// returns an error with the log when the master exits at startup.
func startMaster(t *testing.T, argv ...string) (*server, error) {
	t.Helper()
	return startMasterIn(t, "", argv...)
}

// startMasterIn is startMaster in the network namespace netns ("" for the
// test's own), through "ip netns exec", which execs the master: the
// process is the master itself.
func startMasterIn(t *testing.T, netns string, argv ...string) (*server, error) {
	t.Helper()
	// The reuse pass (testenv.EnvSessionsPerWorker) runs every master
	// with --sessions-per-worker, unless the test sets it itself.
	if !slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, "--sessions-per-worker") }) {
		argv = append(slices.Clip(argv), testenv.MasterArgs()...)
	}
	cmd := exec.Command(filepath.Join(bin, "fbtftp-master"), argv...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, filepath.Join(bin, "fbtftp-master")}, argv...)...)
	}
	s := &server{proc: startProc(t, cmd)}
	ls, ok := s.WaitLines("listening", 1, 15*time.Second)
	if !ok {
		select {
		case <-s.Done():
			return nil, fmt.Errorf("fbtftp-master %s: %v: %s", strings.Join(argv, " "), s.Err(), s.log())
		default:
			return nil, fmt.Errorf("fbtftp-master did not start:\n%s", s.log())
		}
	}
	a, err := netip.ParseAddrPort(fmt.Sprint(ls[0]["address"]))
	if err != nil {
		return nil, fmt.Errorf("listening line %v: %v", ls[0], err)
	}
	s.addr = a
	t.Cleanup(s.stop) // runs before startProc's: a clean drain first
	return s, nil
}

// idleExit returns args plus, in the reuse pass, a short
// --worker-idle-timeout: for the tests that wait for workers to be gone
// after their sessions (a reused worker otherwise waits 30 s for more).
func idleExit(args ...string) []string {
	if testenv.Reuse() {
		return append(args, "--worker-idle-timeout", "100ms")
	}
	return args
}

// startServer runs fbtftp-master -L -a ADDR -s root plus args and waits
// until it listens. addr is "127.0.0.1:0" style.
func startServer(t *testing.T, root, addr string, args ...string) *server {
	t.Helper()
	return startServerIn(t, "", root, addr, args...)
}

// startServerIn is startServer in the network namespace netns ("" for the
// test's own).
func startServerIn(t *testing.T, netns, root, addr string, args ...string) *server {
	t.Helper()
	// Without --worker the master picks the stock worker next to it; the
	// tests name it, except with --http-* options or --auto-worker (a
	// test-only marker, removed here), which check that choice.
	auto := slices.Contains(args, "--auto-worker")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--auto-worker" })
	argv := append([]string{"-L", "-a", addr, "-s", root, "--log-format", "json", "--drain-timeout", "5s"}, args...)
	if !auto && !slices.Contains(args, "--worker") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--http-") }) {
		argv = append(argv, "--worker", filepath.Join(bin, "fbtftp-worker"))
	}
	s, err := startMasterIn(t, netns, argv...)
	if err != nil {
		t.Fatal(err)
	}
	s.root = root
	return s
}

// sessions returns the session summary lines logged so far.
func (s *server) sessions() []map[string]any { return s.find("session") }

// waitSessions waits until n session lines were logged.
func (s *server) waitSessions(n int) []map[string]any {
	s.t.Helper()
	ss, ok := s.WaitLines("session", n, 20*time.Second)
	if !ok {
		s.t.Fatalf("%d session lines, want %d\n%s", len(ss), n, tail(s.log(), 4000))
	}
	return ss
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	select {
	case <-s.Done():
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.Done():
		if err := s.Err(); err != nil {
			s.t.Errorf("master exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		s.t.Errorf("master did not stop on SIGTERM")
		return
	}
	// The last lines (the workers' too) may still be in the pipe.
	select {
	case <-s.OutputDone():
	case <-time.After(5 * time.Second):
	}
	s.noViolations()
}

// noViolations fails the test if the master caught a worker breaking the
// protocol or lying in its Stats: the workers here are honest, and the
// master's checks must never take them for liars.
func (s *server) noViolations() {
	for _, m := range s.find("worker violated the protocol") {
		s.t.Errorf("an honest worker was taken for a liar: %v", m)
	}
}

// worldReadableDir makes a temporary directory the unprivileged worker can
// traverse (t.TempDir parents are 0700 when root).
func worldReadableDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fbtftp-e2e-root")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// writeFiles creates files of the given sizes (deterministic content).
func writeFiles(t *testing.T, root string, sizes map[string]int) {
	t.Helper()
	for name, n := range sizes {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, pattern(name, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func pattern(seed string, n int) []byte {
	b := make([]byte, n)
	x := uint32(len(seed)*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// get downloads with the project's client.
func get(t *testing.T, addr netip.AddrPort, file string, o client.Options) ([]byte, client.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if o.Timeout == 0 {
		o.Timeout = 500 * time.Millisecond
	}
	var buf bytes.Buffer
	res, err := client.Get(ctx, addr, file, o, &buf)
	return buf.Bytes(), res, err
}

// children lists the pids of pid's child processes.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// procState returns the state letter of a process ("Z" for a zombie).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// fdCount returns the number of open descriptors of pid.
func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// fdTargets lists what pid's descriptors point at, for failure messages.
func fdTargets(pid int) []string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+"->"+l)
	}
	return out
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logValue waits (up to 20 s) for a log line with this msg and returns its
// key's value as text.
func (s *server) logValue(msg, key string) string {
	s.t.Helper()
	return fmt.Sprint(s.waitLog(msg, 1)[0][key])
}
