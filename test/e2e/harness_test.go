// Package e2e starts the real fbtftp-master and fbtftp-worker binaries and
// drives them with the project's scripted client and with real TFTP clients
// (curl, tftp-hpa, atftp, busybox).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
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
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/fbtftp-master", "./cmd/fbtftp-worker", "./cmd/fbtftp-worker-http", "./examples/static", "./examples/httpbacked", "./examples/grub", "./examples/stats", "./examples/codegen", "./examples/codegen/minimal")
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

// server is a running fbtftp-master.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr netip.AddrPort
	root string

	mu    sync.Mutex
	lines []map[string]any // JSON log lines
	raw   bytes.Buffer
	exit  chan error
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

// startServer runs fbtftp-master -L -a ADDR -s root plus args and waits
// until it listens. addr is "127.0.0.1:0" style.
func startServer(t *testing.T, root, addr string, args ...string) *server {
	t.Helper()
	s := &server{t: t, root: root, exit: make(chan error, 1)}
	// Without --worker the master picks the stock worker next to it; the
	// tests name it, except with --http-* options or --auto-worker (a
	// test-only marker, removed here), which check that choice.
	auto := slices.Contains(args, "--auto-worker")
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--auto-worker" })
	argv := append([]string{"-L", "-a", addr, "-s", root, "--log-format", "json", "--drain-timeout", "5s"}, args...)
	if !auto && !hasArg(args, "--worker") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--http-") }) {
		argv = append(argv, "--worker", filepath.Join(bin, "fbtftp-worker"))
	}
	s.cmd = exec.Command(filepath.Join(bin, "fbtftp-master"), argv...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan netip.AddrPort, 1)
	go s.readLog(stderr, ready)
	go func() { s.exit <- s.cmd.Wait() }()
	select {
	case a := <-ready:
		s.addr = a
	case err := <-s.exit:
		t.Fatalf("master exited: %v\n%s", err, s.log())
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("master did not start:\n%s", s.log())
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func (s *server) readLog(r io.Reader, ready chan<- netip.AddrPort) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]any
		s.mu.Lock()
		s.raw.Write(line)
		s.raw.WriteByte('\n')
		if json.Unmarshal(line, &m) == nil {
			s.lines = append(s.lines, m)
			if m["msg"] == "listening" {
				if a, err := netip.ParseAddrPort(fmt.Sprint(m["address"])); err == nil {
					select {
					case ready <- a:
					default:
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// sessions returns the session summary lines logged so far.
func (s *server) sessions() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, m := range s.lines {
		if m["msg"] == "session" {
			out = append(out, m)
		}
	}
	return out
}

// waitSessions waits until n session lines were logged.
func (s *server) waitSessions(n int) []map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ss := s.sessions()
		if len(ss) >= n {
			return ss
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d session lines, want %d\n%s", len(ss), n, tail(s.log(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exit:
		if err != nil {
			s.t.Errorf("master exit: %v", err)
		}
		s.exit <- err
		s.noViolations()
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("master did not stop on SIGTERM")
	}
}

// noViolations fails the test if the master caught a worker breaking the
// protocol or lying in its Stats: the workers here are honest, and the
// master's checks must never take them for liars.
func (s *server) noViolations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.lines {
		if m["msg"] == "worker violated the protocol" {
			s.t.Errorf("an honest worker was taken for a liar: %v", m)
		}
	}
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

// logValue waits (up to 5 s) for a log line with this msg and returns its
// key's value as text.
func (s *server) logValue(msg, key string) string {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.lines {
			if m["msg"] == msg {
				s.mu.Unlock()
				return fmt.Sprint(m[key])
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q line in the log", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
