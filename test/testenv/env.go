package testenv

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// modulePath identifies the repository's go.mod.
const modulePath = "github.com/fbtftp-go/fbtftp"

// CI reports whether the tests run under continuous integration, that is
// whether the environment variable CI parses as true (CI=true, CI=1).
// Under CI a missing prerequisite fails the test instead of skipping it.
func CI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// Require stops the test because what (a short description of the missing
// prerequisite, e.g. "atftp in PATH") is not available: it skips the test
// with a message, except under CI (see [CI]), where it fails it.
func Require(t testing.TB, what string) {
	t.Helper()
	if CI() {
		t.Fatalf("missing %s (required when CI=true)", what)
	}
	t.Skipf("skipping: missing %s (set CI=true to make this fatal)", what)
}

// LookPath returns the path of the executable name, calling [Require] when
// it is not in PATH.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Require(t, name+" in PATH")
	}
	return p
}

// RepoRoot returns the root directory of the fbtftp repository: the nearest
// directory at or above the working directory whose go.mod declares the
// module github.com/fbtftp-go/fbtftp, or else the one this source file was
// compiled from.
func RepoRoot() (string, error) {
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if isRepoRoot(dir) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..")
		if isRepoRoot(dir) {
			return filepath.Clean(dir), nil
		}
	}
	return "", errors.New("testenv: repository root (go.mod of " + modulePath + ") not found")
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for i := 0; i < 50 && s.Scan(); i++ {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}

// HaveIPv6Loopback reports whether a UDP socket can be bound to [::1].
func HaveIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// EnvSessionsPerWorker names the variable that runs the end-to-end suite
// in worker reuse mode: set to N, the harness adds --sessions-per-worker N
// to every fbtftp-master it starts (make test-e2e-reuse). Unset, the
// suite runs the default mode, a fresh worker per session.
const EnvSessionsPerWorker = "FBTFTP_E2E_SESSIONS_PER_WORKER"

// MasterArgs returns the options the environment adds to fbtftp-master's
// command line in the end-to-end tests: --sessions-per-worker N under
// EnvSessionsPerWorker, else none.
func MasterArgs() []string {
	if n := os.Getenv(EnvSessionsPerWorker); n != "" {
		return []string{"--sessions-per-worker", n}
	}
	return nil
}

// Reuse reports whether the end-to-end suite runs in worker reuse mode.
func Reuse() bool { return os.Getenv(EnvSessionsPerWorker) != "" }
