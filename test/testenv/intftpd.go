package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Limits for starting in.tftpd. Startup normally takes a few milliseconds;
// the deadline only matters on a badly overloaded machine.
const (
	startAttempts  = 5                // fresh ports tried when in.tftpd exits early (port taken)
	readyDeadline  = 10 * time.Second // per attempt, until the probe gets a reply
	probeInterval  = 100 * time.Millisecond
	stopGrace      = 3 * time.Second // SIGTERM -> SIGKILL
	scriptDeadline = 2 * time.Minute // scripts/get-tftpd-hpa.sh (apt-get download)
)

// getScript runs scripts/get-tftpd-hpa.sh at most once per test binary.
var getScript = sync.OnceValues(func() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptDeadline)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "get-tftpd-hpa.sh"))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/get-tftpd-hpa.sh: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
})

// InTftpd returns the path of tftpd-hpa's in.tftpd: $FBTFTP_INTFTPD when set,
// else <repo>/.cache/tftpd-hpa/usr/sbin/in.tftpd, else what
// scripts/get-tftpd-hpa.sh (run at most once per test binary) fetches there.
// It checks that the binary runs (in.tftpd -V) and calls [Require] when no
// working binary can be had.
func InTftpd(t testing.TB) string {
	t.Helper()
	bin, err := findInTftpd()
	if err != nil {
		Require(t, "in.tftpd: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := inTftpdCmd(ctx, bin, "-V")
	if out, err := cmd.CombinedOutput(); err != nil {
		Require(t, fmt.Sprintf("a working in.tftpd: %s -V: %v: %s", bin, err, bytes.TrimSpace(out)))
	}
	return bin
}

func findInTftpd() (string, error) {
	if p := os.Getenv("FBTFTP_INTFTPD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("FBTFTP_INTFTPD: %w", err)
		}
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".cache", "tftpd-hpa", "usr", "sbin", "in.tftpd")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return getScript()
}

// InTftpdCommand returns a command running in.tftpd (see [InTftpd]) with
// args. Its environment adds LD_LIBRARY_PATH when scripts/get-tftpd-hpa.sh
// had to unpack shared libraries (libwrap0) next to the binary, so always
// start in.tftpd through this function rather than exec.Command.
func InTftpdCommand(ctx context.Context, t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return inTftpdCmd(ctx, InTftpd(t), args...)
}

func inTftpdCmd(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = time.Second
	// bin is DIR/usr/sbin/in.tftpd; libraries unpacked by the script live in
	// DIR/usr/lib/<triplet> or DIR/lib/<triplet>.
	dir := filepath.Clean(filepath.Join(filepath.Dir(bin), "..", ".."))
	if dir == "/" {
		return cmd
	}
	var libs []string
	for _, pat := range []string{"usr/lib/*/libwrap.so.0", "lib/*/libwrap.so.0", "usr/lib/*/libnsl.so.2", "usr/lib/*/libtirpc.so.3"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, so := range m {
			if d := filepath.Dir(so); !slices.Contains(libs, d) {
				libs = append(libs, d)
			}
		}
	}
	if len(libs) > 0 {
		if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
			libs = append(libs, old)
		}
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.Join(libs, ":"))
	}
	return cmd
}

// StartInTftpd starts the real in.tftpd in the foreground on 127.0.0.1 and a
// free port, waits until it answers, and stops it (and the children it forked
// for transfers) in t.Cleanup. It runs
//
//	in.tftpd -L -a 127.0.0.1:PORT args...
//
// so args carry the rest, typically "-s", dir (see [Root]), and "-c" for
// uploads. in.tftpd drops privileges to user nobody unless args contain
// "-u USER"; that needs root, so without root the test is skipped (fails
// under CI).
func StartInTftpd(t testing.TB, args ...string) netip.AddrPort {
	t.Helper()
	return StartInTftpdOn(t, netip.MustParseAddr("127.0.0.1"), args...)
}

// StartInTftpdOn is [StartInTftpd] on the loopback address ip (127.0.0.1 or
// ::1, the latter passed as -a [::1]:PORT). For an IPv6 address on a machine
// without IPv6 loopback the test is skipped, also under CI.
func StartInTftpdOn(t testing.TB, ip netip.Addr, args ...string) netip.AddrPort {
	t.Helper()
	if !ip.IsLoopback() {
		t.Fatalf("testenv: StartInTftpdOn: %v is not a loopback address", ip)
	}
	if ip.Is6() && !HaveIPv6Loopback() {
		t.Skip("skipping: no IPv6 loopback ([::1]) on this machine")
	}
	if os.Geteuid() != 0 {
		Require(t, "root privileges: in.tftpd must drop to its -u user (default nobody) and chroot for -s; without root its children exit without answering")
	}
	bin := InTftpd(t)
	var failures []string
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := freeUDPPort(ip)
		if err != nil {
			t.Fatalf("testenv: finding a free UDP port on %v: %v", ip, err)
		}
		addr := netip.AddrPortFrom(ip, port)
		s, err := startInTftpd(bin, addr, args)
		if err == nil {
			t.Cleanup(func() {
				if out := s.stop(); t.Failed() && len(out) > 0 {
					t.Logf("in.tftpd on %v output:\n%s", addr, out)
				}
			})
			return addr
		}
		failures = append(failures, fmt.Sprintf("attempt %d on %v: %v", attempt, addr, err))
		if !errors.Is(err, errExited) {
			break // it runs but does not answer: another port will not help
		}
	}
	t.Fatalf("testenv: starting %s %s failed:\n%s", bin, strings.Join(args, " "), strings.Join(failures, "\n"))
	return netip.AddrPort{}
}

var errExited = errors.New("in.tftpd exited")

// server is one running in.tftpd process group.
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returns
	out  *syncBuffer   // stdout and stderr (in.tftpd mostly logs to syslog)
}

func startInTftpd(bin string, addr netip.AddrPort, args []string) (*server, error) {
	all := append([]string{"-L", "-a", addr.String()}, args...)
	// Not CommandContext: the process outlives this call; stop ends it.
	cmd := inTftpdCmd(context.Background(), bin, all...)
	s := &server{cmd: cmd, done: make(chan struct{}), out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	setProcessGroup(cmd) // in.tftpd forks one child per transfer; stop kills the group
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		cmd.Wait() // the error is in cmd.ProcessState
		close(s.done)
	}()
	if err := s.waitReady(addr); err != nil {
		out := s.stop()
		return nil, fmt.Errorf("%w\noutput: %s", err, bytes.TrimSpace(out))
	}
	return s, nil
}

// waitReady sends a harmless RRQ (for a file that does not exist) to addr
// until any packet comes back, the process exits, or readyDeadline passes.
func (s *server) waitReady(addr netip.AddrPort) error {
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr.Addr(), 0)))
	if err != nil {
		return err
	}
	defer conn.Close()
	probe := append([]byte{0, 1}, "testenv-readiness-probe\x00octet\x00"...)
	buf := make([]byte, 1024)
	deadline := time.Now().Add(readyDeadline)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%w: %v", errExited, s.cmd.ProcessState)
		default:
		}
		if _, err := conn.WriteToUDPAddrPort(probe, addr); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(probeInterval))
		if _, _, err := conn.ReadFromUDPAddrPort(buf); err == nil {
			return nil // any reply (ERROR 1 or 2) means it is serving
		}
		// Timeout, or ECONNREFUSED from an ICMP port unreachable while the
		// socket is not bound yet: probe again.
	}
	select {
	case <-s.done:
		return fmt.Errorf("%w: %v", errExited, s.cmd.ProcessState)
	default:
	}
	return fmt.Errorf("no reply to a probe RRQ within %v", readyDeadline)
}

// stop ends the process group (SIGTERM, then SIGKILL after stopGrace) and
// returns what the server wrote.
func (s *server) stop() []byte {
	select {
	case <-s.done:
	default:
		signalGroup(s.cmd, false)
		select {
		case <-s.done:
		case <-time.After(stopGrace):
		}
	}
	// Transfer children share the group and may outlive the parent.
	signalGroup(s.cmd, true)
	select {
	case <-s.done:
	case <-time.After(stopGrace):
	}
	return s.out.Bytes()
}

// freeUDPPort binds port 0 on ip and returns the port the kernel chose. The
// port is free again when this returns; someone may take it before in.tftpd
// binds it, in which case in.tftpd exits and StartInTftpdOn retries.
func freeUDPPort(ip netip.Addr) (uint16, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Port(), nil
}

// Root creates a directory for in.tftpd to serve (pass it as "-s", dir) with
// files written from the map (keys are slash-separated relative paths;
// subdirectories are created). in.tftpd runs as user nobody and only serves
// world-readable files, so files are 0644 and directories 0755; the root itself is
// 0777 so that in.tftpd -c can create uploaded files in it (overwriting an
// existing file additionally needs it to be world-writable, chmod 0666). The
// parent of the returned directory (t.TempDir's per-test directory, created
// 0700) is made 0755 so that nobody can traverse it when in.tftpd runs
// without -s.
func Root(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o755}, {dir, 0o777}} {
		if err := os.Chmod(d.path, d.mode); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("testenv: Root: file name %q leaves the root", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a process's
// stdout and stderr copiers and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
