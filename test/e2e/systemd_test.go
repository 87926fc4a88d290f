package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// hardeningProperties returns the [Service] settings of the shipped unit
// that confine the process (everything but how it is started, stopped
// and configured), as systemd-run -p arguments.
func hardeningProperties(t *testing.T) []string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "deploy", "systemd", "fbtftp.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	skip := map[string]bool{"Type": true, "NotifyAccess": true, "ExecStart": true, "ExecReload": true, "KillMode": true,
		"TimeoutStopSec": true, "Restart": true, "Environment": true, "EnvironmentFile": true}
	var props []string
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			if k, _, ok := strings.Cut(line, "="); ok && !skip[k] {
				props = append(props, "-p", line)
			}
		}
	}
	return props
}

// systemdPID1 says whether systemd runs as PID 1 (and so systemd-run can
// start units), and what PID 1 is.
func systemdPID1() (bool, string) {
	comm, err := os.ReadFile("/proc/1/comm")
	name := strings.TrimSpace(string(comm))
	if err != nil {
		return false, err.Error()
	}
	if name != "systemd" {
		return false, name
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return false, "systemd without /run/systemd/system"
	}
	return true, name
}

// TestHardenedUnit runs the master the way fbtftp.service does, confined
// by every hardening property of the unit (capability bounding set,
// system call filter, ProtectSystem=strict, ...) through systemd-run, and
// downloads a file through it. It needs systemd as PID 1 and root.
func TestHardenedUnit(t *testing.T) {
	if ok, pid1 := systemdPID1(); !ok {
		// Even under CI=true: without systemd as PID 1 there is no
		// service manager to apply the unit's properties.
		t.Skipf("systemd is not PID 1 on this machine (PID 1 is %q): cannot run the master under systemd-run with the unit's properties", pid1)
	}
	if os.Geteuid() != 0 {
		testenv.Require(t, "root: systemd-run --system and -u need it")
	}
	sr := testenv.LookPath(t, "systemd-run")

	// Binaries and the served directory where the unit's namespace sees
	// them: not in /tmp (PrivateTmp) nor under /home or /root (ProtectHome).
	dir, err := os.MkdirTemp("/var/lib", "fbtftp-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, b := range []string{"fbtftp-master", "fbtftp-worker"} {
		data, err := os.ReadFile(filepath.Join(bin, b))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, b), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	writeFiles(t, root, map[string]int{"pxelinux.0": 100_000})

	unit := fmt.Sprintf("fbtftp-e2e-%d", os.Getpid())
	args := append([]string{"--unit", unit, "--collect", "--pipe", "--quiet", "--wait"}, hardeningProperties(t)...)
	args = append(args, filepath.Join(dir, "fbtftp-master"), "-L", "-a", "127.0.0.1:0", "--user", "nobody",
		"--secure", root, "--log-format", "json", "--drain-timeout", "5s")
	cmd := exec.Command(sr, args...)
	t.Cleanup(func() { exec.Command("systemctl", "stop", unit).Run() })
	p := startProc(t, cmd)
	addr := p.listening(1)[0]
	got, _, err := get(t, addr, "pxelinux.0", client.Options{Blksize: 1468, Tsize: true})
	if err != nil || !bytes.Equal(got, pattern("pxelinux.0", 100_000)) {
		t.Fatalf("download through the hardened master: %v\n%s", err, p.log())
	}
	if s := p.waitLog("session", 1)[0]; s["outcome"] != "success" {
		t.Errorf("session %v", s)
	}
	if err := exec.Command("systemctl", "kill", "--kill-who=main", "-s", "TERM", unit).Run(); err != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d\n%s", code, p.log())
	}
}

// TestUnitCapabilities runs the master with only the capabilities the
// shipped unit leaves it (CapabilityBoundingSet=, applied by setpriv(1))
// and no_new_privs, as root with workers switching to nobody in a chroot,
// and downloads through it: the bounding set is enough for what the
// master and its workers do. It needs no systemd (TestHardenedUnit applies
// every property where systemd runs).
func TestUnitCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "root: the workers chroot and switch user")
	}
	setpriv := testenv.LookPath(t, "setpriv")
	var caps []string
	props := hardeningProperties(t) // "-p", "Key=Value" pairs
	for i := 0; i+1 < len(props); i += 2 {
		if v, ok := strings.CutPrefix(props[i+1], "CapabilityBoundingSet="); ok {
			for _, c := range strings.Fields(v) {
				caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
		}
	}
	if len(caps) == 0 {
		t.Fatal("no CapabilityBoundingSet= in the unit")
	}
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"pxelinux.0": 50_000})
	m := masterCmd("-L", "-a", "127.0.0.1:0", "--user", "nobody", "--secure", root, "--prefork", "1")
	args := append([]string{"--bounding-set", "-all," + strings.Join(caps, ","), "--inh-caps", "-all", "--no-new-privs", "--"}, m.Args...)
	p := startProc(t, exec.Command(setpriv, args...))
	addr := p.listening(1)[0]
	got, _, err := get(t, addr, "pxelinux.0", client.Options{Blksize: 1468})
	if err != nil || !bytes.Equal(got, pattern("pxelinux.0", 50_000)) {
		t.Fatalf("download with the unit's capabilities (%s): %v\n%s", strings.Join(caps, ","), err, p.log())
	}
	if s := p.waitLog("session", 1)[0]; s["outcome"] != "success" {
		t.Errorf("session %v", s)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}
