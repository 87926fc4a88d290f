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
			cmd := exec.CommandContext(ctx, path, "-V")
			cmd.Env = append(os.Environ(), env...)
			out, _ := cmd.CombinedOutput()
			return bytes.Contains(out, []byte("tftp-hpa"))
		})
}

// Atftpd finds atftpd (which supports windowsize): $FBTFTP_ATFTPD,
// /usr/sbin/atftpd, or the atftpd Debian package in the cache.
func Atftpd(ctx context.Context) (Server, error) {
	s := Server{Name: "atftpd", Args: func(root string, extra ...string) []string {
		return append(append([]string{"--user", "root.root", "--logfile", "/dev/null"}, extra...), root)
	}}
	return find(ctx, s, "FBTFTP_ATFTPD", "/usr/sbin/atftpd", "atftpd", "usr/sbin/atftpd",
		func(string, []string) bool { return true })
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
	dir, err := extract(ctx, pkg)
	if err != nil {
		return s, err
	}
	s.Path = filepath.Join(dir, inPkg)
	if _, err := os.Stat(s.Path); err != nil {
		return s, err
	}
	// libwrap0 is a dependency of both packages that may not be installed.
	if libs, err := extract(ctx, "libwrap0"); err == nil {
		s.Env = []string{"LD_LIBRARY_PATH=" + filepath.Join(libs, "usr/lib/x86_64-linux-gnu") + ":" +
			filepath.Join(libs, "lib/x86_64-linux-gnu") + ":" + filepath.Join(libs, "usr/lib")}
	}
	if !ok(s.Path, s.Env) {
		return s, fmt.Errorf("%s from package %s does not run", s.Path, pkg)
	}
	return s, nil
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
