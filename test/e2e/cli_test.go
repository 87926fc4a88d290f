package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// Tests of fbtftp-master's command line as a drop-in for in.tftpd: usage
// errors, -V, the program name, -l with -P, and Debian's invocation.

// runMaster runs fbtftp-master (or the program at path) to completion.
func runMaster(t *testing.T, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// inTftpdLink makes DIR/in.tftpd, a symbolic link to the built master, in
// a directory without a worker: the master must find fbtftp-worker next to
// the binary the link leads to.
func inTftpdLink(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fbtftp-e2e-sbin")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	link := filepath.Join(d, "in.tftpd")
	if err := os.Symlink(filepath.Join(bin, "fbtftp-master"), link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestUsageErrors: a bad option or value exits 64 (EX_USAGE) with one
// line naming it and a "Try --help" hint, whatever the program is called.
func TestUsageErrors(t *testing.T) {
	master := filepath.Join(bin, "fbtftp-master")
	link := inTftpdLink(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unrecognized option '--bogus'"},
		{[]string{"-Z", "-L", "/srv"}, "invalid option -- 'Z'"},
		{[]string{"-L", "-a"}, "option requires an argument -- 'a'"},
		{[]string{"-B", "abc", "-L", "/srv"}, "option '-B': Bad maximum blocksize value (range 512-65464): abc"},
		{[]string{"--retransmit=5", "-L", "/srv"}, "option '--retransmit': Bad timeout value: 5"},
		{[]string{"-R", "1000", "-L", "/srv"}, "option '-R': Bad port range: 1000"},
		{[]string{"-U", "999", "-L", "/srv"}, "option '-U': Invalid umask: 999"},
		{[]string{"-r", "foo", "-L", "/srv"}, "option '-r': Unknown option: foo"},
		{[]string{"-W", "0", "-L", "/srv"}, "option '-W': Bad window size value"},
		{[]string{"--max-upload", "x", "-L", "/srv"}, "option '--max-upload': Bad maximum upload size: x"},
		{[]string{"--metrics-addr", "nope", "-L", "/srv"}, "option '--metrics-addr': invalid address"},
		{[]string{"-s", "-L"}, "no -s directory"},
		{[]string{"-s", "-L", "/a", "/b"}, "too many -s directories"},
	}
	for _, c := range cases {
		for _, path := range []string{master, link} {
			prog := filepath.Base(path)
			t.Run(prog+" "+strings.Join(c.args, " "), func(t *testing.T) {
				stdout, stderr, code := runMaster(t, path, c.args...)
				if code != 64 {
					t.Errorf("exit status %d, want 64", code)
				}
				want := prog + ": " + c.want
				hint := "\nTry '" + prog + " --help' for more information.\n"
				if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 2 || !strings.HasSuffix(stderr, hint) || stdout != "" {
					t.Errorf("stderr %q stdout %q, want a line starting %q and the hint %q", stderr, stdout, want, hint)
				}
			})
		}
	}
}

// TestUsageErrorsLikeInTftpd runs the real in.tftpd with the same bad
// values: it exits 64 too (it says why in syslog, with the texts our
// messages carry after the option name).
func TestUsageErrorsLikeInTftpd(t *testing.T) {
	testenv.InTftpd(t)
	for _, args := range [][]string{
		{"-B", "abc"}, {"-B", "511"}, {"-B", "65465"}, {"-T", "9999"}, {"-T", "255000001"},
		{"-R", "1000"}, {"-R", "2000:1000"}, {"-U", "999"}, {"-r", "foo"}, {"-m", "a", "-m", "b"},
		{"-s"}, {"-s", "/a", "/b"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append([]string{"-L", "-a", "127.0.0.1:9"}, args...)
			if args[0] != "-s" {
				full = append(full, "/nonexistent")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := testenv.InTftpdCommand(ctx, t, full...).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 64 {
				t.Fatalf("in.tftpd %q: %v, want exit status 64", full, err)
			}
			if _, _, code := runMaster(t, filepath.Join(bin, "fbtftp-master"), full...); code != 64 {
				t.Errorf("fbtftp-master %q: exit status %d, want 64", full, code)
			}
		})
	}
}

// TestVersion: -V prints one line and exits 0, like in.tftpd's "tftp-hpa
// 5.2, with remap, with tcpwrappers", under any name; -V wins over what
// follows it.
func TestVersion(t *testing.T) {
	master := filepath.Join(bin, "fbtftp-master")
	out, stderr, code := runMaster(t, master, "-V")
	if code != 0 || stderr != "" || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "tftp-hpa 5.2") || !strings.Contains(out, "with remap") {
		t.Fatalf("-V: %d %q %q", code, out, stderr)
	}
	for _, args := range [][]string{{"--version"}, {"-V", "--bogus"}, {"-L", "-V", "-B", "1"}} {
		o, _, code := runMaster(t, master, args...)
		if code != 0 || o != out {
			t.Errorf("%q: %d %q", args, code, o)
		}
	}
	if o, _, code := runMaster(t, inTftpdLink(t), "-V"); code != 0 || o != out {
		t.Errorf("as in.tftpd: %d %q, want %q", code, o, out)
	}
	if p, err := findInTftpd(); err == nil {
		theirs, _ := exec.Command(p, "-V").Output()
		t.Logf("in.tftpd -V: %s", bytes.TrimSpace(theirs))
	}
}

func findInTftpd() (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".cache", "tftpd-hpa", "usr", "sbin", "in.tftpd")
	_, err = os.Stat(p)
	return p, err
}

// TestNamedInTftpd: installed as a symbolic link named in.tftpd, the
// master serves the same way (finding its worker through the link); only
// the name in logs and in /proc/PID/comm changes.
func TestNamedInTftpd(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 40_000})
	results := map[string]string{}
	for _, path := range []string{filepath.Join(bin, "fbtftp-master"), inTftpdLink(t)} {
		name := filepath.Base(path)
		cmd := exec.Command(path, "-L", "-a", "127.0.0.1:0", "-s", root, "--log-format", "json")
		p := startProc(t, cmd)
		addr := p.listening(1)[0]
		got, res, err := get(t, addr, "f", client.Options{Blksize: 1468, Tsize: true})
		if err != nil || !bytes.Equal(got, pattern("f", 40_000)) {
			t.Fatalf("%s: %v", name, err)
		}
		s := p.waitLog("session", 1)[0]
		if s["logger"] != name+".master" {
			t.Errorf("%s: logger %v", name, s["logger"])
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.cmd.Process.Pid))
		if strings.TrimSpace(string(comm)) != name {
			t.Errorf("comm %q, want %q", comm, name)
		}
		results[name] = fmt.Sprint(s["outcome"], s["bytes"], s["blksize"], res.Tsize, res.Blocks)
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(15 * time.Second); code != 0 {
			t.Errorf("%s: exit status %d", name, code)
		}
	}
	if results["in.tftpd"] != results["fbtftp-master"] {
		t.Errorf("sessions differ: %v", results)
	}
}

// TestDaemonize: -l detaches (new session, parent exits 0 once serving),
// -P holds the serving process's pid and goes away on SIGTERM.
func TestDaemonize(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 3000})
	pidFile := filepath.Join(worldReadableDir(t), "tftpd.pid")
	p := startProc(t, masterCmd("-l", "-a", "127.0.0.1:0", "-s", root, "-P", pidFile))
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("-l: exit status %d", code)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid == p.cmd.Process.Pid {
		t.Fatalf("pid file %q (parent %d)", b, p.cmd.Process.Pid)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("daemon %d in session %d, want its own", pid, sid)
	}
	fd0, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid))
	if fd0 != os.DevNull {
		t.Errorf("daemon fd 0 is %q", fd0)
	}
	addr := p.listening(1)[0] // the daemon still logs to the pipe (not a terminal)
	if got, _, err := get(t, addr, "f", client.Options{}); err != nil || !bytes.Equal(got, pattern("f", 3000)) {
		t.Fatalf("download: %v", err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	eventually(t, 15*time.Second, "the daemon to exit", func() bool { return syscall.Kill(pid, 0) != nil })
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left behind: %v", err)
	}

	// A daemon that cannot start: the parent exits with its status.
	p = startProc(t, masterCmd("-l", "-a", "127.0.0.1:0", "-s", filepath.Join(root, "missing")))
	if code := p.wait(15 * time.Second); code != 66 {
		t.Errorf("-l with a missing directory: exit status %d, want 66", code)
	}
	// The reader of the pipe may lag behind the exit.
	eventually(t, 10*time.Second, "the error on standard error", func() bool { return strings.Contains(p.log(), "missing") })
}

// TestDebianInvocation runs Debian's command line unchanged (with a test
// user, directory and address): in.tftpd --listen --user U --address A
// --secure DIR, then does what the init script does to stop and reload it:
// signal every process named in.tftpd.
func TestDebianInvocation(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "root: --user needs it")
	}
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"pxelinux.0": 42_000})
	link := inTftpdLink(t)
	// --stderr: -l otherwise detaches the log from the test's pipe (as
	// daemon(3) does), and the test reads the reload's line.
	cmd := exec.Command(link, "--listen", "--user", "nobody", "--address", "127.0.0.1:0", "--secure", root, "--stderr")
	p := startProc(t, cmd)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	addr := p.listening(1)[0]
	named := func() []int { return procsNamed("in.tftpd", root) }
	var daemon int
	eventually(t, 10*time.Second, "the daemon", func() bool { ds := named(); daemon = firstOr0(ds); return len(ds) == 1 })
	t.Cleanup(func() { syscall.Kill(daemon, syscall.SIGKILL) })
	got, _, err := get(t, addr, "pxelinux.0", client.Options{Blksize: 1468})
	if err != nil || !bytes.Equal(got, pattern("pxelinux.0", 42_000)) {
		t.Fatalf("download: %v", err)
	}
	// start-stop-daemon --stop --signal 1 --name in.tftpd: only the master
	// is called in.tftpd (workers are fbtftp-worker); it reloads.
	for _, pid := range named() {
		syscall.Kill(pid, syscall.SIGHUP)
	}
	p.waitLog("reloaded", 1)
	if _, _, err := get(t, addr, "pxelinux.0", client.Options{}); err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	// start-stop-daemon --stop --name in.tftpd.
	for _, pid := range named() {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	eventually(t, 15*time.Second, "the daemon to exit", func() bool { return syscall.Kill(daemon, 0) != nil })
}

// procsNamed lists the processes whose comm is name and whose command line
// mentions marker.
func procsNamed(name, marker string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.TrimSpace(string(comm)) == name && bytes.Contains(args, []byte(marker)) && procState(pid) != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

func firstOr0(s []int) int {
	if len(s) == 0 {
		return 0
	}
	return s[0]
}

// TestVersionStamped: the version the Makefile stamps from git describe
// (-ldflags -X) is what -V prints, not a constant.
func TestVersionStamped(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "fbtftp-master")
	const v = "9.8.7-42-g0123456789ab"
	cmd := exec.Command("go", "build", "-o", out,
		"-ldflags", "-X github.com/fbtftp-go/fbtftp/internal/version.version="+v, "./cmd/fbtftp-master")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	got, _, code := runMaster(t, out, "-V")
	if code != 0 || !strings.HasPrefix(got, "fbtftp-go "+v+" ") {
		t.Errorf("-V: %d %q, want it to start with fbtftp-go %s", code, got, v)
	}
}

// TestDaemonizeDetaches: like daemon(3), -l leaves nothing of the caller's
// standard input, output and error open in the daemon, so a caller that
// captures them (x=$(in.tftpd -l ... 2>&1), Ansible, a CI step) gets them
// back at once instead of waiting for the daemon to exit.
func TestDaemonizeDetaches(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 3000})
	pidFile := filepath.Join(worldReadableDir(t), "tftpd.pid")
	master := masterCmd("-l", "-a", "127.0.0.1:0", "-s", root, "-P", pidFile)
	cmd := exec.Command("/bin/sh", append([]string{"-c", `x=$("$@" 2>&1); echo "status $? [$x]"`, "sh"}, master.Args...)...)
	cmd.Path = "/bin/sh"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 100 * time.Millisecond
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.HasPrefix(out.String(), "status 0 [") {
			t.Fatalf("x=$(master -l ...): %v %q", err, out.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("x=$(master -l ...) did not return: the daemon holds the caller's output (%q)", out.String())
	}
	var pid int
	eventually(t, 10*time.Second, "the pid file", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	syscall.Kill(pid, syscall.SIGTERM)
	eventually(t, 15*time.Second, "the daemon to exit", func() bool { return syscall.Kill(pid, 0) != nil })
}
