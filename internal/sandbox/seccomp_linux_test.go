//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// run interprets a seccomp program for one call, as the kernel would
// (the subset of classic BPF buildFilter emits).
func run(t *testing.T, prog []unix.SockFilter, arch uint32, nr int, arg0 uint64) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdAbsW:
			switch in.K {
			case offNr:
				a = uint32(nr)
			case offArch:
				a = arch
			case offArg0, offArg0 + 8*2: // the checks' arguments
				a = uint32(arg0)
			default:
				t.Fatalf("pc %d: load of offset %d", pc, in.K)
			}
		case bpfJeqK, bpfJgeK, bpfJsetK:
			var ok bool
			switch in.Code {
			case bpfJeqK:
				ok = a == in.K
			case bpfJgeK:
				ok = a >= in.K
			default:
				ok = a&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfRetK:
			return in.K
		default:
			t.Fatalf("pc %d: opcode %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

// TestSeccompProgram checks the program's decisions call by call: the
// architecture, x32 numbers, every allowed call, the argument checks and
// a sample of refused calls.
func TestSeccompProgram(t *testing.T) {
	const pid = 4242
	rules := syscallRules(pid)
	prog, err := buildFilter(rules)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rules, %d instructions", len(rules), len(prog))
	const allow, kill = unix.SECCOMP_RET_ALLOW, uint32(unix.SECCOMP_RET_KILL_PROCESS)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	for _, c := range []struct {
		name string
		arch uint32
		nr   int
		arg0 uint64
		want uint32
	}{
		{"getpid", auditArch, unix.SYS_GETPID, 0, allow},
		{"getpid, other arch", unix.AUDIT_ARCH_I386, unix.SYS_GETPID, 0, kill},
		{"getpid, arm arch", unix.AUDIT_ARCH_ARM, unix.SYS_GETPID, 0, kill},
		{"thread", auditArch, unix.SYS_CLONE, threadFlags, allow},
		{"fork", auditArch, unix.SYS_CLONE, uint64(syscall.SIGCHLD), kill},
		{"vfork-style clone", auditArch, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_VFORK | uint64(syscall.SIGCHLD), kill},
		{"thread flags in the high word only", auditArch, unix.SYS_CLONE, threadFlags << 32, kill},
		{"clone3", auditArch, unix.SYS_CLONE3, 0, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"socket inet", auditArch, unix.SYS_SOCKET, unix.AF_INET, allow},
		{"socket inet6", auditArch, unix.SYS_SOCKET, unix.AF_INET6, allow},
		{"socket netlink", auditArch, unix.SYS_SOCKET, unix.AF_NETLINK, allow},
		{"socket packet", auditArch, unix.SYS_SOCKET, unix.AF_PACKET, kill},
		{"socket unix", auditArch, unix.SYS_SOCKET, unix.AF_UNIX, kill},
		{"socket inet, high word set", auditArch, unix.SYS_SOCKET, 1<<32 | unix.AF_PACKET, kill},
		{"kill self", auditArch, unix.SYS_KILL, pid, allow},
		{"kill other", auditArch, unix.SYS_KILL, 1, kill},
		{"kill group", auditArch, unix.SYS_KILL, uint64(0xffffffff), kill},
		{"tgkill self", auditArch, unix.SYS_TGKILL, pid, allow},
		{"tgkill other", auditArch, unix.SYS_TGKILL, pid + 1, kill},
		{"execve", auditArch, unix.SYS_EXECVE, 0, kill},
		{"execveat", auditArch, unix.SYS_EXECVEAT, 0, kill},
		{"ptrace", auditArch, unix.SYS_PTRACE, 0, kill},
		{"mount", auditArch, unix.SYS_MOUNT, 0, kill},
		{"setsid", auditArch, unix.SYS_SETSID, 0, kill},
		{"setuid", auditArch, unix.SYS_SETUID, 0, kill},
		{"unshare", auditArch, unix.SYS_UNSHARE, 0, kill},
		{"bpf", auditArch, unix.SYS_BPF, 0, kill},
		{"ioctl", auditArch, unix.SYS_IOCTL, 0, kill},
		{"prctl", auditArch, unix.SYS_PRCTL, 0, kill},
		{"seccomp", auditArch, unix.SYS_SECCOMP, 0, kill},
		{"io_uring_setup", auditArch, unix.SYS_IO_URING_SETUP, 0, kill},
		{"pidfd_open", auditArch, unix.SYS_PIDFD_OPEN, 0, kill},
		{"listen", auditArch, unix.SYS_LISTEN, 0, kill},
		{"number past the table", auditArch, 4000, 0, kill},
		{"mmap read-write", auditArch, unix.SYS_MMAP, unix.PROT_READ | unix.PROT_WRITE, allow},
		{"mmap executable", auditArch, unix.SYS_MMAP, unix.PROT_READ | unix.PROT_EXEC, kill},
		{"mprotect none", auditArch, unix.SYS_MPROTECT, unix.PROT_NONE, allow},
		{"mprotect executable", auditArch, unix.SYS_MPROTECT, unix.PROT_READ | unix.PROT_EXEC, kill},
	} {
		if got := run(t, prog, c.arch, c.nr, c.arg0); got != c.want {
			t.Errorf("%s (nr %d, arg %#x): %#x, want %#x", c.name, c.nr, c.arg0, got, c.want)
		}
	}
	if x32Check {
		if got := run(t, prog, auditArch, x32Bit|unix.SYS_GETPID, 0); got != kill {
			t.Errorf("x32 getpid: %#x, want kill", got)
		}
	}
	for _, r := range rules {
		arg := uint64(0)
		if r.check != nil {
			arg = uint64(r.check.set) // 0 passes a clear check
			if r.check.in != nil {
				arg = uint64(r.check.in[0])
			}
		}
		if got := run(t, prog, auditArch, int(r.nr), arg); got != allow {
			t.Errorf("allowed call %d: %#x", r.nr, got)
		}
	}
	if _, err := buildFilter(append(rules, rule{nr: unix.SYS_READ})); err == nil {
		t.Error("a call listed twice was accepted")
	}
}

// The helper: a child process confines itself with Apply (no_new_privs and
// the filter) and does one thing; the test reads how it ended.
const seccompHelperEnv = "FBTFTP_SECCOMP_HELPER"

// seccompCases are what a confined worker may do ("ok"), and what kills it
// ("killed") or fails ("ENOSYS").
var seccompCases = []struct {
	name string
	want string
	do   func() error
}{
	{"session work", "ok", sessionWork},
	{"execve", "killed", func() error { return syscall.Exec("/bin/true", []string{"true"}, nil) }},
	{"fork and exec", "killed", func() error {
		_, err := syscall.ForkExec("/bin/true", []string{"true"}, nil)
		return err
	}},
	{"raw fork", "killed", func() error {
		r, _, errno := syscall.RawSyscall(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
		if errno == 0 && r == 0 {
			os.Exit(3) // the child of a fork that should not have happened
		}
		return errnoErr(errno)
	}},
	{"ptrace", "killed", func() error { return unix.PtraceAttach(os.Getppid()) }},
	{"mount", "killed", func() error { return unix.Mount("none", os.TempDir(), "tmpfs", 0, "") }},
	{"socket AF_PACKET", "killed", func() error {
		_, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		return err
	}},
	{"socket AF_UNIX", "killed", func() error {
		_, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		return err
	}},
	{"setsid", "killed", func() error {
		_, err := unix.Setsid()
		return err
	}},
	{"setuid", "killed", func() error {
		_, _, errno := syscall.RawSyscall(syscall.SYS_SETUID, 0, 0, 0)
		return errnoErr(errno)
	}},
	{"kill parent", "killed", func() error { return unix.Kill(os.Getppid(), 0) }},
	{"unshare", "killed", func() error { return unix.Unshare(unix.CLONE_NEWUSER) }},
	{"ioctl", "killed", func() error {
		_, err := unix.IoctlGetTermios(0, unix.TCGETS)
		return err
	}},
	{"prctl", "killed", func() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0) }},
	{"x32 getpid", "killed", func() error {
		if !x32Check {
			syscall.RawSyscall(^uintptr(0), 0, 0, 0) // an unknown number: killed as well
		}
		_, _, errno := syscall.RawSyscall(x32Bit|syscall.SYS_GETPID, 0, 0, 0)
		return errnoErr(errno)
	}},
	{"mmap executable", "killed", func() error {
		_, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		return err
	}},
	{"mprotect executable", "killed", func() error {
		b, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return err
		}
		return unix.Mprotect(b, unix.PROT_READ|unix.PROT_EXEC)
	}},
	{"clone3", "ENOSYS", func() error {
		_, _, errno := syscall.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
		return errnoErr(errno)
	}},
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// sessionWork does what a worker's sessions do, under the filter: new
// threads, garbage collection, files (os.Root, fallocate, flock, rename,
// unlink, directory listing), UDP over IPv4 and IPv6, TCP, a netlink
// route socket, random bytes, timers, a signal to itself.
func sessionWork() error {
	var errs []error
	check := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread() // forces new threads (clone)
			b := make([]byte, 1<<20)
			rand.Read(b)
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	runtime.GC()
	debug.FreeOSMemory()

	dir := os.Getenv("FBTFTP_SECCOMP_DIR")
	root, err := os.OpenRoot(dir)
	check("open root", err)
	if root != nil {
		f, err := root.OpenFile("new", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		check("create", err)
		if f != nil {
			check("fallocate", unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 1<<16))
			check("flock", unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
			_, err = f.WriteAt([]byte("hello"), 0)
			check("write", err)
			check("sync", f.Sync())
			check("truncate", f.Truncate(2))
			check("chmod", f.Chmod(0o644))
			f.Close()
		}
		check("rename", root.Rename("new", "renamed"))
		now := time.Now()
		check("chtimes", root.Chtimes("renamed", now, now))
		_, err = root.ReadFile("renamed")
		check("read", err)
		check("mkdir", root.Mkdir("sub", 0o755))
		d, err := root.Open(".")
		check("open dir", err)
		if d != nil {
			_, err = d.ReadDir(-1)
			check("readdir", err)
			d.Close()
		}
		check("remove", root.Remove("renamed"))
		_, err = root.Stat("sub")
		check("stat", err)
		root.Close()
	}
	for _, network := range []string{"udp4", "udp6"} {
		addr := "127.0.0.1:0"
		if network == "udp6" {
			addr = "[::1]:0"
		}
		c, err := net.ListenPacket(network, addr)
		check(network, err)
		if c != nil {
			_, err = c.WriteTo([]byte("x"), c.LocalAddr())
			check(network+" send", err)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err = c.ReadFrom(make([]byte, 10))
			check(network+" receive", err)
			c.Close()
		}
	}
	if addr := os.Getenv("FBTFTP_SECCOMP_TCP"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		check("tcp", err)
		if c != nil {
			_, err = c.Write([]byte("x"))
			check("tcp write", err)
			c.Close()
		}
	}
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	check("netlink", err)
	if err == nil {
		unix.Close(nl)
	}
	check("signal self", unix.Kill(os.Getpid(), 0))
	_ = os.Getuid()
	return errors.Join(errs...)
}

func seccompHelper(name string) {
	applied, err := Apply(Spec{Seccomp: true})
	if err != nil {
		fmt.Println("apply:", err)
		os.Exit(1)
	}
	if !applied.Seccomp {
		fmt.Println("not seccomped")
		os.Exit(1)
	}
	for _, c := range seccompCases {
		if c.name == name {
			err := c.do()
			fmt.Printf("survived: %v\n", err)
			os.Exit(0)
		}
	}
	fmt.Println("no such case")
	os.Exit(1)
}

// TestSeccompDenies runs each case in a confined child process: refused
// calls kill it with SIGSYS, clone3 fails with ENOSYS, and what sessions
// do works.
func TestSeccompDenies(t *testing.T) {
	if name := os.Getenv(seccompHelperEnv); name != "" {
		seccompHelper(name)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, c := range seccompCases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSeccompDenies$")
			cmd.Env = append(os.Environ(), seccompHelperEnv+"="+c.name, "FBTFTP_SECCOMP_DIR="+dir, "FBTFTP_SECCOMP_TCP="+ln.Addr().String(), "GOTRACEBACK=none")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			got := "ok"
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGSYS {
					got = "killed"
				} else {
					got = "exit: " + err.Error()
				}
			case err != nil:
				t.Fatal(err)
			case strings.Contains(out.String(), "survived: function not implemented"):
				got = "ENOSYS"
			case !strings.Contains(out.String(), "survived: <nil>"):
				got = strings.TrimSpace(out.String())
			}
			if got != c.want {
				t.Errorf("%s: %s, want %s\n%s", c.name, got, c.want, out.String())
			}
			if c.want == "ok" {
				if _, err := os.Stat(filepath.Join(dir, "sub")); err != nil {
					t.Errorf("the work left no trace: %v", err)
				}
			}
		})
	}
}

// TestSeccompLogOnly: with SeccompLog, a refused call is allowed (and
// logged by the kernel), for diagnosing custom workers.
func TestSeccompLogOnly(t *testing.T) {
	if os.Getenv("FBTFTP_SECCOMP_LOG_HELPER") == "1" {
		if _, err := Apply(Spec{Seccomp: true, SeccompLog: true}); err != nil {
			fmt.Println("apply:", err)
			os.Exit(1)
		}
		_, err := unix.Setsid()
		fmt.Printf("survived: %v\n", err)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSeccompLogOnly$")
	cmd.Env = append(os.Environ(), "FBTFTP_SECCOMP_LOG_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "survived: ") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// BenchmarkSeccompBuild is the filter's construction, done at every
// worker start.
func BenchmarkSeccompBuild(b *testing.B) {
	for b.Loop() {
		if _, err := buildFilter(syscallRules(os.Getpid())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeccompInstall is construction plus the seccomp(2) call, timed
// in child processes (a filter cannot be removed, and a second install is
// refused by the first): one install each, b.N children.
func BenchmarkSeccompInstall(b *testing.B) {
	if os.Getenv("FBTFTP_SECCOMP_BENCH") == "1" {
		if err := noNewPrivs(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		runtime.LockOSThread()
		var c0, c1 unix.Timespec
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c0)
		start := time.Now()
		err := installSeccomp(false)
		d := time.Since(start)
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c1)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Printf("installed in %d ns, %d ns of CPU\n", d.Nanoseconds(), c1.Nano()-c0.Nano())
		os.Exit(0)
	}
	var total, cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkSeccompInstall$")
		cmd.Env = append(os.Environ(), "FBTFTP_SECCOMP_BENCH=1")
		out, err := cmd.CombinedOutput()
		var ns, cns int64
		if _, serr := fmt.Sscanf(string(out), "installed in %d ns, %d ns of CPU", &ns, &cns); err != nil || serr != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		total += time.Duration(ns)
		cpu += time.Duration(cns)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/install")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/install")
}
