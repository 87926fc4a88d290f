package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/client"
)

func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// TestSandbox proves from a worker's /proc entry that it runs chrooted in
// the root (its working directory too) as the unprivileged user, with
// no_new_privs and the seccomp filter, and that an idle worker runs at most
// 4 threads (6 with a signal handler); both ways: the stock fbtftp-worker,
// sandboxed by the master at exec, and the same binary under another name,
// which sandboxes itself.
func TestSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs a root master")
	}
	other := filepath.Join(t.TempDir(), "custom-worker")
	b, err := os.ReadFile(filepath.Join(bin, "fbtftp-worker"))
	if err != nil || os.WriteFile(other, b, 0o755) != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, worker string }{
		{"at exec", filepath.Join(bin, "fbtftp-worker")},
		{"by the worker", other},
	} {
		t.Run(c.name, func(t *testing.T) { testSandbox(t, c.worker) })
	}
}

func testSandbox(t *testing.T, worker string) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 10})
	s := startServer(t, root, "127.0.0.1:0", "--prefork", "1", "-u", "nobody", "--worker", worker)
	// The pool worker says Hello only once sandboxed; wait for a child in
	// that state (a child seen earlier may still be starting, or be
	// chrooted but not yet switched to the user: no_new_privs comes
	// after that; seccomp last).
	var kid int
	deadline := time.Now().Add(10 * time.Second)
	for kid == 0 {
		for _, k := range children(s.pid()) {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", k))
			if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", k)); link == root && strings.Contains(string(st), "Seccomp:\t2") {
				kid = k
			}
		}
		if kid == 0 && time.Now().After(deadline) {
			t.Fatalf("no sandboxed worker; children %v\n%s", children(s.pid()), tail(s.log(), 3000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	f, err := os.Open(filepath.Join("/proc", fmt.Sprint(kid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
	}
	if fields["Uid"] != "65534 65534 65534 65534" || fields["Gid"] != "65534 65534 65534 65534" {
		t.Errorf("uid %q gid %q", fields["Uid"], fields["Gid"])
	}
	if fields["NoNewPrivs"] != "1" || fields["Groups"] != "" && fields["Groups"] != "65534" {
		t.Errorf("NoNewPrivs %q Groups %q", fields["NoNewPrivs"], fields["Groups"])
	}
	if fields["Seccomp"] != "2" || fields["Seccomp_filters"] == "0" {
		t.Errorf("Seccomp %q filters %q", fields["Seccomp"], fields["Seccomp_filters"])
	}
	// Started at exec, the worker came through a directory outside the
	// root: it must have left it.
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", kid)); err != nil || cwd != root {
		t.Errorf("working directory %q (%v), want the root %s", cwd, err, root)
	}
	if n, err := strconv.Atoi(fields["Threads"]); err != nil || n > 4 {
		t.Errorf("an idle worker runs %q threads, want at most 4", fields["Threads"])
	}
	// It serves (Landlock lets it read the root, in its own view).
	if _, _, err := get(t, s.addr, "f", client.Options{}); err != nil {
		t.Fatal(err)
	}
	// The master itself stays root (it creates sockets for any address).
	if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid())); !strings.Contains(string(st), "Uid:\t0\t") {
		t.Error("master is not root")
	}
}

// TestWorkersLandlocked: workers restrict their file access with Landlock
// when the kernel has it (the worker says so at debug level), and
// --no-landlock turns that off.
func TestWorkersLandlocked(t *testing.T) {
	v, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 || v == 0 {
		t.Skip("the kernel has no Landlock")
	}
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 1000})
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"-v"}, true},
		{[]string{"-v", "--no-landlock"}, false},
	} {
		s := startServer(t, root, "127.0.0.1:0", c.args...)
		if _, _, err := get(t, s.addr, "f", client.Options{}); err != nil {
			t.Fatal(err)
		}
		s.waitSessions(1)
		got := false
		for _, l := range s.find("") {
			if l["msg"] == "sandbox" {
				abi, _ := l["landlock_abi"].(float64)
				got = abi >= 1
			}
		}
		if got != c.want {
			t.Errorf("%v: landlocked %v, want %v\n%s", c.args, got, c.want, tail(s.log(), 2000))
		}
	}
}

// TestSandboxReuse: a worker that serves several sessions
// (--sessions-per-worker) is sandboxed once and stays so: after five
// sessions its /proc entry shows the unprivileged user, the chroot,
// no_new_privs and the seccomp filter, it logged its Landlock sandbox
// once, and it holds no more descriptors than after its first session.
func TestSandboxReuse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs a root master")
	}
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 3000})
	s := startServer(t, root, "127.0.0.1:0", "-u", "nobody", "-v", "--sessions-per-worker", "100")
	var pid, fds int
	for i := range 5 {
		if _, _, err := get(t, s.addr, "f", client.Options{}); err != nil {
			t.Fatal(err)
		}
		// Back in the idle state before the next request: otherwise the
		// master would start another worker for it.
		idle := s.waitLog("worker idle", i+1)
		p := int(idle[i]["worker_pid"].(float64))
		if i == 0 {
			pid, fds = p, fdCount(p)
		} else if p != pid {
			t.Fatalf("session %d in worker %d, not %d", i, p, pid)
		}
	}
	for _, l := range s.waitSessions(5) {
		if int(l["worker_pid"].(float64)) != pid || l["outcome"] != "success" {
			t.Fatalf("session line %v: want worker %d, success", l, pid)
		}
	}
	if n := fdCount(pid); n > fds {
		t.Errorf("worker %d: %d descriptors after 5 sessions, %d after the first", pid, n, fds)
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields[k] = strings.Join(strings.Fields(v), " ")
	}
	if fields["Uid"] != "65534 65534 65534 65534" || fields["Gid"] != "65534 65534 65534 65534" {
		t.Errorf("uid %q gid %q", fields["Uid"], fields["Gid"])
	}
	if fields["NoNewPrivs"] != "1" || fields["Seccomp"] != "2" {
		t.Errorf("NoNewPrivs %q Seccomp %q", fields["NoNewPrivs"], fields["Seccomp"])
	}
	if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); link != root {
		t.Errorf("root %q, want %q", link, root)
	}
	v, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno == 0 && v > 0 {
		n := 0
		for _, l := range s.find("sandbox") {
			if abi, _ := l["landlock_abi"].(float64); abi >= 1 {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d landlocked sandbox lines, want 1 (applied once)\n%s", n, tail(s.log(), 3000))
		}
	}
}
