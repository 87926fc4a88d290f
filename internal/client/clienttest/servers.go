// Package clienttest runs third-party TFTP servers for tests: Debian's
// tftpd-hpa (in.tftpd) and atftpd. A server is found through an environment
// variable, on the system, or in a cache extracted from the Debian package
// (apt-get download + dpkg -x, no installation), and started in inetd mode
// on a socket bound to 127.0.0.1:0, so no port is ever guessed.
package clienttest

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
	"testing"
	"time"
)

// Server is a third-party server binary and the environment it needs.
type Server struct {
	Name string   // "in.tftpd" or "atftpd"
	Path string   // the executable
	Env  []string // extra environment (LD_LIBRARY_PATH for an extracted libwrap)
	// Args are the arguments, given the root directory, to serve it in
	// inetd mode (the listening socket is stdin).
	Args func(root string, extra ...string) []string
}

// InTFTPD finds tftpd-hpa's in.tftpd: $FBTFTP_INTFTPD, /usr/sbin/in.tftpd
// if it is tftpd-hpa's, or the tftpd-hpa Debian package in the cache.
func InTFTPD(ctx context.Context) (Server, error) {
	s := Server{Name: "in.tftpd", Args: func(root string, extra ...string) []string {
		return append(append([]string{"-u", "root"}, extra...), "-s", root)
	}}
	return find(ctx, s, "FBTFTP_INTFTPD", "/usr/sbin/in.tftpd", "tftpd-hpa", "usr/sbin/in.tftpd",
		func(path string, env []string) bool {
			// atftpd also installs an in.tftpd; tftpd-hpa's says so in -V.
			return versionHas(ctx, path, env, "tftp-hpa")
		})
}

// Atftpd finds atftpd (which supports windowsize): $FBTFTP_ATFTPD,
// /usr/sbin/atftpd, or the atftpd Debian package in the cache.
func Atftpd(ctx context.Context) (Server, error) {
	s := Server{Name: "atftpd", Args: func(root string, extra ...string) []string {
		return append(append([]string{"--user", "root.root", "--logfile", "/dev/null"}, extra...), root)
	}}
	return find(ctx, s, "FBTFTP_ATFTPD", "/usr/sbin/atftpd", "atftpd", "usr/sbin/atftpd",
		func(path string, env []string) bool { return versionHas(ctx, path, env, "atftp") })
}

// versionHas reports whether "path -V" runs and mentions want.
func versionHas(ctx context.Context, path string, env []string, want string) bool {
	cmd := exec.CommandContext(ctx, path, "-V")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return err == nil && bytes.Contains(out, []byte(want))
}

func find(ctx context.Context, s Server, envVar, system, pkg, inPkg string, ok func(string, []string) bool) (Server, error) {
	if p := os.Getenv(envVar); p != "" {
		s.Path = p
		return s, nil
	}
	if _, err := os.Stat(system); err == nil && ok(system, nil) {
		s.Path = system
		return s, nil
	}
	// scripts/get-tftpd-hpa.sh (used by test/testenv) unpacks into
	// <repo>/.cache/PKG, with the libraries it lacked beside the binary.
	if root, err := repoRoot(); err == nil {
		dir := filepath.Join(root, ".cache", pkg)
		if p := filepath.Join(dir, inPkg); fileExists(p) {
			s.Path, s.Env = p, libraryPath(dir)
			if ok(s.Path, s.Env) {
				return s, nil
			}
		}
	}
	dir, err := extract(ctx, pkg)
	if err != nil {
		return s, err
	}
	s.Path = filepath.Join(dir, inPkg)
	if !fileExists(s.Path) {
		return s, fmt.Errorf("%s not in package %s", inPkg, pkg)
	}
	s.Env = libraryPath(dir)
	if !ok(s.Path, s.Env) {
		// libwrap0 is a dependency of both packages that may not be installed.
		libs, err := extract(ctx, "libwrap0")
		if err != nil {
			return s, err
		}
		s.Env = libraryPath(libs)
	}
	if !ok(s.Path, s.Env) {
		return s, fmt.Errorf("%s from package %s does not run", s.Path, pkg)
	}
	return s, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// libraryPath returns an LD_LIBRARY_PATH setting for the shared libraries
// unpacked under dir, or nothing when there are none.
func libraryPath(dir string) []string {
	var libs []string
	for _, pat := range []string{"usr/lib/*/*.so*", "lib/*/*.so*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, so := range m {
			if d := filepath.Dir(so); !slices.Contains(libs, d) {
				libs = append(libs, d)
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

// repoRoot finds the module root (the directory holding go.mod) from the
// working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("go.mod not found")
}

// CacheDir is where Debian packages are extracted, one directory each.
func CacheDir() string { return filepath.Join(os.TempDir(), "fbtftp-testdeps") }

// extract returns the directory where pkg's files were extracted, running
// apt-get download and dpkg -x the first time. Concurrent callers (other
// test processes) are safe: the result appears with an atomic rename.
func extract(ctx context.Context, pkg string) (string, error) {
	dst := filepath.Join(CacheDir(), pkg)
	if _, err := os.Stat(dst); err == nil {
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
		if _, serr := os.Stat(dst); serr == nil {
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

// Require finds a server with find (InTFTPD or Atftpd). When it cannot, the
// test is skipped, or fails under CI=true, where every third-party server
// must be available.
func Require(tb testing.TB, find func(context.Context) (Server, error)) Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := find(ctx)
	if err == nil {
		return s
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required under CI: %v", s.Name, err)
	}
	tb.Skipf("%s not available: %v", s.Name, err)
	return s
}

// Start runs s in inetd mode serving root, on a UDP socket bound to
// 127.0.0.1:0 that it receives as stdin, and returns that address. The
// process is killed when the test ends. extra are added server flags.
func Start(tb testing.TB, s Server, root string, extra ...string) netip.AddrPort {
	tb.Helper()
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.LocalAddr().(*net.UDPAddr).AddrPort()
	f, err := l.File() // a blocking duplicate for the child's stdin
	l.Close()
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close() // the child has its own copy once started
	cmd := exec.Command(s.Path, s.Args(root, extra...)...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdin = f
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	ownGroup(cmd) // in.tftpd forks a child per transfer: kill them all
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		killGroup(cmd)
		if err := cmd.Wait(); err != nil && !isKilled(err) {
			tb.Logf("%s: %v: %s", s.Name, err, stderr.String())
		}
	})
	return addr
}

func isKilled(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}
