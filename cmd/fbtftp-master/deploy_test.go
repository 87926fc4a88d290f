package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// unitKeys reads a unit file's Key=Value lines (a key given more than once
// keeps every value, in order).
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// envFile reads VAR="value" lines, as systemd's EnvironmentFile= does.
func envFile(t *testing.T, path string, env map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = strings.Trim(v, `"`)
		}
	}
}

// execStart expands an ExecStart= line as systemd does: ${VAR} is one
// word, $VAR splits on white space.
func execStart(line string, env map[string]string) []string {
	var argv []string
	for _, w := range strings.Fields(line) {
		switch {
		case strings.HasPrefix(w, "${") && strings.HasSuffix(w, "}"):
			argv = append(argv, env[w[2:len(w)-1]])
		case strings.HasPrefix(w, "$"):
			argv = append(argv, strings.Fields(env[w[1:]])...)
		default:
			argv = append(argv, w)
		}
	}
	return argv
}

// TestSystemdUnits: the shipped service, with the packaged defaults and
// with tftpd-hpa's, runs a command line the master accepts, socket
// activation included, and keeps the drain working (KillMode=mixed:
// SIGTERM reaches the master alone).
func TestSystemdUnits(t *testing.T) {
	keys := unitKeys(t, "../../deploy/systemd/fbtftp.service")
	env := map[string]string{}
	for _, kv := range strings.Fields(keys["Environment"][0]) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, defaults := range []string{"", "../../deploy/debian/default", "testdata/tftpd-hpa.default"} {
		if defaults != "" {
			envFile(t, defaults, env)
		}
		argv := execStart(keys["ExecStart"][0], env)
		if len(argv) < 2 || argv[0] != "/usr/sbin/fbtftp-master" {
			t.Fatalf("ExecStart %q", argv)
		}
		o, err := parseArgs(argv[1:])
		if err != nil {
			t.Fatalf("%s: ExecStart %q: %v", defaults, argv, err)
		}
		if !o.systemd || !o.secure || o.user != "tftp" || len(o.dirs) != 1 || o.dirs[0] != "/srv/tftp" || len(o.addresses) != 1 {
			t.Errorf("%s: ExecStart does not use socket activation, -s /srv/tftp, -u tftp and -a: %q", defaults, argv)
		}
	}
	if keys["KillMode"][0] != "mixed" {
		t.Errorf("KillMode=%q: workers would get SIGTERM with the master and sessions would not drain", keys["KillMode"])
	}
	if got := keys["EnvironmentFile"]; len(got) != 2 || got[0] != "-/etc/default/fbtftp" || got[1] != "-/etc/default/tftpd-hpa" {
		t.Errorf("EnvironmentFile=%q: want fbtftp's, then tftpd-hpa's (which wins)", got)
	}
	sock, err := os.ReadFile("../../deploy/systemd/fbtftp.socket")
	if err != nil || !strings.Contains(string(sock), "ListenDatagram=69") {
		t.Errorf("fbtftp.socket: %v", err)
	}
}

// TestSystemdSecurity: systemd-analyze rates the service's exposure 3.0
// or lower ("OK").
func TestSystemdSecurity(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing")
		}
		t.Skip("systemd-analyze is missing (apt install systemd)")
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "../../deploy/systemd/fbtftp.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for fbtftp\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f", score)
	if score > 3.0 {
		t.Errorf("exposure %.1f, want 3.0 or lower:\n%s", score, out)
	}
}

// TestUnitNotify: the service is Type=notify (the master says READY=1, and
// MAINPID= on a SIGUSR2 upgrade), and only its main process is heard: a
// worker must never move MAINPID or fake readiness.
func TestUnitNotify(t *testing.T) {
	keys := unitKeys(t, "../../deploy/systemd/fbtftp.service")
	if got := keys["Type"]; len(got) != 1 || got[0] != "notify" {
		t.Errorf("Type=%v, want notify", got)
	}
	if got := keys["NotifyAccess"]; len(got) != 1 || got[0] != "main" {
		t.Errorf("NotifyAccess=%v, want main", got)
	}
	if fams := strings.Join(keys["RestrictAddressFamilies"], " "); !strings.Contains(fams, "AF_UNIX") {
		t.Errorf("RestrictAddressFamilies=%s: sd_notify needs AF_UNIX", fams)
	}
}
