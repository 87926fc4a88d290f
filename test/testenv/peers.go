package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Peer is a third-party TFTP server binary: tftpd-hpa's in.tftpd (the
// reference fbtftp replaces) or atftpd (which has windowsize), with the
// environment it needs.
type Peer struct {
	Name string   // "in.tftpd" or "atftpd"
	Path string   // the executable
	Env  []string // added environment: LD_LIBRARY_PATH for libraries unpacked beside it
}

// Command returns a command running the peer with args; always start a
// peer through it (it sets Env).
func (p Peer) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.Path, args...)
	cmd.WaitDelay = time.Second
	if len(p.Env) > 0 {
		cmd.Env = append(os.Environ(), p.Env...)
	}
	return cmd
}

// FindInTftpd finds tftpd-hpa's in.tftpd: $FBTFTP_INTFTPD, else
// /usr/sbin/in.tftpd when it is tftpd-hpa's (atftpd installs one too),
// else <repo>/.cache/tftpd-hpa/usr/sbin/in.tftpd (scripts/get-tftpd-hpa.sh
// unpacks Debian 12's package there, as .ci/run does), else the package
// unpacked by apt-get download and dpkg -x into CacheDir (installing it
// would start a daemon). It checks that the binary runs (-V).
func FindInTftpd(ctx context.Context) (Peer, error) {
	return find(ctx, Peer{Name: "in.tftpd"}, "FBTFTP_INTFTPD", "/usr/sbin/in.tftpd", "tftpd-hpa", "usr/sbin/in.tftpd", "tftp-hpa")
}

// FindAtftpd finds atftpd: $FBTFTP_ATFTPD, /usr/sbin/atftpd, or the atftpd
// package, as FindInTftpd does.
func FindAtftpd(ctx context.Context) (Peer, error) {
	return find(ctx, Peer{Name: "atftpd"}, "FBTFTP_ATFTPD", "/usr/sbin/atftpd", "atftpd", "usr/sbin/atftpd", "atftp")
}

// InTftpd returns FindInTftpd's peer, or calls Require.
func InTftpd(tb testing.TB) Peer { return require(tb, FindInTftpd) }

// Atftpd returns FindAtftpd's peer, or calls Require.
func Atftpd(tb testing.TB) Peer { return require(tb, FindAtftpd) }

func require(tb testing.TB, find func(context.Context) (Peer, error)) Peer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := find(ctx)
	if err != nil {
		Require(tb, fmt.Sprintf("%s: %v", p.Name, err))
	}
	return p
}

// InTftpdCommand returns a command running in.tftpd (see InTftpd) with
// args.
func InTftpdCommand(ctx context.Context, tb testing.TB, args ...string) *exec.Cmd {
	tb.Helper()
	return InTftpd(tb).Command(ctx, args...)
}

// find looks for a peer in the places FindInTftpd lists; want is what its
// -V output must mention.
func find(ctx context.Context, p Peer, envVar, system, pkg, inPkg, want string) (Peer, error) {
	runs := func(q Peer) bool {
		out, err := q.Command(ctx, "-V").CombinedOutput()
		return err == nil && bytes.Contains(out, []byte(want))
	}
	if path := os.Getenv(envVar); path != "" {
		if _, err := os.Stat(path); err != nil {
			return p, fmt.Errorf("%s: %w", envVar, err)
		}
		p.Path = path
		return p, nil
	}
	if fileExists(system) {
		if q := (Peer{Name: p.Name, Path: system}); runs(q) {
			return q, nil
		}
	}
	if root, err := RepoRoot(); err == nil {
		dir := filepath.Join(root, ".cache", pkg)
		if q := (Peer{Name: p.Name, Path: filepath.Join(dir, inPkg), Env: libraryPath(dir)}); fileExists(q.Path) && runs(q) {
			return q, nil
		}
	}
	dir, err := extract(ctx, pkg)
	if err != nil {
		return p, err
	}
	p.Path, p.Env = filepath.Join(dir, inPkg), libraryPath(dir)
	if !fileExists(p.Path) {
		return p, fmt.Errorf("%s not in package %s", inPkg, pkg)
	}
	if !runs(p) {
		// libwrap0, which both packages need, may not be installed.
		libs, err := extract(ctx, "libwrap0")
		if err != nil {
			return p, err
		}
		p.Env = libraryPath(dir, libs)
	}
	if !runs(p) {
		return p, fmt.Errorf("%s from package %s does not run", p.Path, pkg)
	}
	return p, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// libraryPath returns an LD_LIBRARY_PATH setting for the shared libraries
// unpacked under dirs, or nothing when there are none.
func libraryPath(dirs ...string) []string {
	var libs []string
	for _, dir := range dirs {
		for _, pat := range []string{"usr/lib/*/*.so*", "lib/*/*.so*"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			for _, so := range m {
				if d := filepath.Dir(so); !slices.Contains(libs, d) {
					libs = append(libs, d)
				}
			}
		}
	}
	if len(libs) == 0 {
		return nil
	}
	if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
		libs = append(libs, old)
	}
	return []string{"LD_LIBRARY_PATH=" + strings.Join(libs, ":")}
}

// CacheDir is where Debian packages are unpacked, one directory each.
func CacheDir() string { return filepath.Join(os.TempDir(), "fbtftp-testdeps") }

// extract returns the directory where pkg's files were unpacked, running
// apt-get download and dpkg -x the first time. Concurrent callers (other
// test processes) are safe: the result appears with an atomic rename.
func extract(ctx context.Context, pkg string) (string, error) {
	dst := filepath.Join(CacheDir(), pkg)
	if fileExists(dst) {
		return dst, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("apt-get not found: cannot fetch %s", pkg)
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(CacheDir(), pkg+".tmp")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	download := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
		cmd.Dir = tmp
		return cmd.CombinedOutput()
	}
	if _, err := download(); err != nil {
		// A fresh machine may have no package lists yet: fetch them once.
		if out, err := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %v: %s", err, lastLine(out))
		}
		if out, err := download(); err != nil {
			return "", fmt.Errorf("apt-get download %s: %v: %s", pkg, err, lastLine(out))
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download %s: %d packages", pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg -x %s: %v: %s", pkg, err, lastLine(out))
	}
	if err := os.Rename(root, dst); err != nil {
		if fileExists(dst) {
			return dst, nil // another process won the race
		}
		return "", err
	}
	return dst, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// StartInetd starts p in inetd mode (the listening socket is its standard
// input) with args, on a UDP socket bound to ip:0 before the process
// starts: the address is known and the socket receives from the start, so
// there is no port to guess or race for and nothing to wait for. p runs in
// its own process group (in.tftpd forks a child per transfer), stopped in
// tb.Cleanup, its output logged when the test failed.
func StartInetd(tb testing.TB, p Peer, ip netip.Addr, args ...string) netip.AddrPort {
	tb.Helper()
	if !ip.IsLoopback() {
		tb.Fatalf("testenv: %v is not a loopback address", ip)
	}
	if ip.Is6() && !HaveIPv6Loopback() {
		tb.Skip("skipping: no IPv6 loopback ([::1]) on this machine")
	}
	sock, addr, err := BoundSocket(ip)
	if err != nil {
		tb.Fatal(err)
	}
	defer sock.Close() // the child has its own copy once started
	cmd := p.Command(context.Background(), args...)
	cmd.Stdin = sock
	proc, err := StartProcess(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		proc.Stop()
		if tb.Failed() {
			tb.Logf("%s %s output:\n%s", p.Name, strings.Join(args, " "), proc.Output())
		}
	})
	return addr
}

// BoundSocket binds a UDP socket to ip:0 and returns it as a file to pass
// to a process (inetd's standard input, systemd's descriptor 3), with the
// address the kernel chose.
func BoundSocket(ip netip.Addr) (*os.File, netip.AddrPort, error) {
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	l, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	defer l.Close()
	f, err := l.File() // a blocking duplicate, as inetd passes it
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return f, l.LocalAddr().(*net.UDPAddr).AddrPort(), nil
}

// StartInTftpd starts the real in.tftpd on 127.0.0.1 (StartInetd) with
// args, typically "-s", dir (see Root), and "-c" for uploads. in.tftpd
// drops privileges to user nobody unless args contain "-u USER"; that
// needs root, so without root the test is skipped (fails under CI).
func StartInTftpd(tb testing.TB, args ...string) netip.AddrPort {
	tb.Helper()
	return StartInTftpdOn(tb, netip.MustParseAddr("127.0.0.1"), args...)
}

// StartInTftpdOn is StartInTftpd on the loopback address ip (127.0.0.1 or
// ::1).
func StartInTftpdOn(tb testing.TB, ip netip.Addr, args ...string) netip.AddrPort {
	tb.Helper()
	if os.Geteuid() != 0 && !slices.Contains(args, "-u") {
		Require(tb, "root privileges: in.tftpd must drop to its -u user (default nobody) and chroot for -s; without root its children exit without answering")
	}
	return StartInetd(tb, InTftpd(tb), ip, args...)
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
func Root(tb testing.TB, files map[string][]byte) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Dir(dir), 0o755}, {dir, 0o777}} {
		if err := os.Chmod(d.path, d.mode); err != nil {
			tb.Fatal(err)
		}
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			tb.Fatalf("testenv: Root: file name %q leaves the root", name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(p, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
