package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
)

// gateWriter lets the first n bytes through, then blocks until open is
// closed: a client throttled so that its download spans an upgrade (it
// ACKs nothing meanwhile; the worker retransmits and waits).
type gateWriter struct {
	buf     bytes.Buffer
	n       int
	reached chan struct{} // closed once n bytes are in
	open    chan struct{}
	once    sync.Once
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.buf.Len() >= g.n {
		g.once.Do(func() { close(g.reached) })
		<-g.open
	}
	return g.buf.Write(p)
}

// subreaper makes the test process a child subreaper while t runs, so
// that a new master left by an old one that exits becomes its child, and
// reapChild can wait for it (and see no zombie is left).
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// stopChild sends SIGTERM to pid, a child of this process (subreaper), and
// reaps it; it returns the exit status.
func stopChild(t *testing.T, pid int) int {
	t.Helper()
	syscall.Kill(pid, syscall.SIGTERM)
	done := make(chan syscall.WaitStatus, 1)
	go func() {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		done <- ws
	}()
	select {
	case ws := <-done:
		return ws.ExitStatus()
	case <-time.After(20 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("new master %d did not stop on SIGTERM", pid)
		return -1
	}
}

// notifySocket is a stand-in for systemd's notification socket: it
// records each datagram with its sender's pid.
type notifySocket struct {
	path string
	c    *net.UnixConn
}

type notification struct {
	pid int
	msg string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, _ := c.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	return &notifySocket{path: path, c: c}
}

// next waits for the next notification.
func (n *notifySocket) next(t *testing.T) notification {
	t.Helper()
	buf, oob := make([]byte, 4096), make([]byte, 256)
	n.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	k, oobn, _, _, err := n.c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return notification{pid: int(cred.Pid), msg: string(buf[:k])}
		}
	}
	t.Fatal("a notification without credentials")
	return notification{}
}

// epochOf returns the epoch (the prefix of its session ids) of the master
// with this pid, from its "serving" line.
func (s *server) epochOf(pid int) string {
	s.t.Helper()
	ls, ok := s.WaitFor(20*time.Second, func(ls []map[string]any) ([]map[string]any, bool) {
		for _, l := range ls {
			if l["msg"] == "serving" && fmt.Sprint(l["pid"]) == strconv.Itoa(pid) {
				return []map[string]any{l}, true
			}
		}
		return nil, false
	})
	if !ok {
		s.t.Fatalf("no serving line of pid %d\n%s", pid, tail(s.log(), 4000))
	}
	return fmt.Sprint(ls[0]["epoch"])
}

// sessionOf waits for the session line of file and returns the epoch of
// the master that logged it.
func (s *server) sessionOf(file string) string {
	s.t.Helper()
	ls, ok := s.WaitFor(20*time.Second, func(ls []map[string]any) ([]map[string]any, bool) {
		for _, l := range ls {
			if l["msg"] == "session" && l["file"] == file {
				return []map[string]any{l}, true
			}
		}
		return nil, false
	})
	if !ok {
		s.t.Fatalf("no session line for %s\n%s", file, tail(s.log(), 4000))
	}
	id := fmt.Sprint(ls[0]["session_id"])
	epoch, _, _ := strings.Cut(id, "-")
	return epoch
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

// buildMaster builds fbtftp-master with another version string into dir.
func buildMaster(t *testing.T, dir, version string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fbtftp-master.new")
	cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X github.com/fbtftp-go/fbtftp/internal/version.version="+version, "./cmd/fbtftp-master")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	return out
}

// versionOf is `exe -V`'s first word after the program name.
func versionOf(t *testing.T, exe string) string {
	t.Helper()
	b, err := exec.Command(exe, "-V").Output()
	if err != nil {
		t.Fatalf("%s -V: %v", exe, err)
	}
	return string(b)
}

// TestUpgrade is SIGUSR2 to a rebuilt binary with another version
// string (issue 14): 20 downloads, held halfway by their clients so that
// they span the upgrade, complete byte-exact from the old master; a probe
// RRQ every 50 ms is answered every time; a new request is answered by
// the new master; the old one exits once its sessions are over; the pid
// file and systemd's MAINPID (a unixgram NOTIFY_SOCKET) follow the new
// master; the metrics listener still answers, with the new version in
// build_info, the old master's sessions counted and, while they run,
// listed by GET /sessions; no zombie, no descriptor left.
func TestUpgrade(t *testing.T) {
	subreaper(t)
	root := worldReadableDir(t)
	const bigSize, downloads = 1 << 20, 20
	writeFiles(t, root, map[string]int{"big": bigSize, "small": 3000, "after": 30_000})
	dir := t.TempDir()
	const newVersion = "9.9.9-upgrade-test"
	rebuilt := buildMaster(t, dir, newVersion)
	exe := filepath.Join(dir, "fbtftp-master")
	copyFile(t, filepath.Join(bin, "fbtftp-master"), exe, 0o755)
	oldVersion := versionOf(t, exe)
	pidFile := filepath.Join(dir, "fbtftp.pid")
	ns := newNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", ns.path)
	s := &server{proc: startProc(t, exec.Command(exe, "-L", "-a", "127.0.0.1:0", "-s", root, "--log-format", "json",
		"--worker", filepath.Join(bin, "fbtftp-worker"), "-P", pidFile, "--metrics-addr", "127.0.0.1:0",
		"--max-sessions-per-client", "0"))}
	s.addr = s.listening(1)[0]
	t.Cleanup(s.stop)
	maddr := s.metricsAddr(t)
	oldPid := s.pid()
	if n := ns.next(t); n.pid != oldPid || n.msg != "READY=1\nSTATUS=serving" {
		t.Fatalf("first notification %+v, want READY=1 from %d", n, oldPid)
	}
	if got := readPid(t, pidFile); got != oldPid {
		t.Fatalf("pid file %d, want %d", got, oldPid)
	}
	oldEpoch := s.epochOf(oldPid)
	oldFDs := fdCount(oldPid)

	// Downloads that stop halfway until the upgrade is done.
	open := make(chan struct{})
	var openOnce sync.Once
	release := func() { openOnce.Do(func() { close(open) }) }
	t.Cleanup(release)
	type result struct {
		g   *gateWriter
		err error
	}
	long := make(chan result, downloads)
	var gates []*gateWriter
	for range downloads {
		g := &gateWriter{n: bigSize / 2, reached: make(chan struct{}), open: open}
		gates = append(gates, g)
		go func() {
			_, err := client.Get(t.Context(), s.addr, "big", client.Options{Blksize: 1024, Timeout: 2 * time.Second, Retries: 10,
				// The worker waits 5 s, then longer, for each ACK while the gate is shut.
				RawOptions: []proto.Option{{Name: "timeout", Value: "5"}}}, g)
			long <- result{g, err}
		}()
	}
	for _, g := range gates {
		select {
		case <-g.reached:
		case r := <-long:
			t.Fatalf("a download ended before the upgrade: %v", r.err)
		}
	}

	// A probe every 50 ms from before the signal until the old master is
	// gone.
	stopProbes := make(chan struct{})
	probesDone := make(chan struct{})
	var probes, probeFailures int
	var probeErr error
	go func() {
		defer close(probesDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 2000; i++ { // bounded: 100 s
			select {
			case <-stopProbes:
				return
			case <-tick.C:
			}
			got, _, err := get(t, s.addr, "small", client.Options{})
			probes++
			if err != nil || !bytes.Equal(got, pattern("small", 3000)) {
				probeFailures++
				probeErr = err
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stopProbes:
		default:
			close(stopProbes)
		}
		<-probesDone
	})

	if err := os.Rename(rebuilt, exe); err != nil { // a package upgrade
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGUSR2)
	newPid, err := strconv.Atoi(s.logValue("upgrade: the new master serves; finishing the sessions in flight", "new_pid"))
	if err != nil || newPid == oldPid || newPid <= 0 {
		t.Fatalf("new master pid %d (%v), old %d", newPid, err, oldPid)
	}
	t.Cleanup(func() {
		if procState(newPid) != "" {
			stopChild(t, newPid)
		}
	})
	if n := ns.next(t); n.pid != oldPid || !strings.HasPrefix(n.msg, "MAINPID="+strconv.Itoa(newPid)+"\n") {
		t.Errorf("notification %+v, want MAINPID=%d from the old master %d", n, newPid, oldPid)
	}
	newEpoch := s.epochOf(newPid)
	if got := readPid(t, pidFile); got != newPid {
		t.Errorf("pid file %d, want the new master's %d", got, newPid)
	}

	// A new request: the new master answers, while the old one still
	// serves its downloads.
	want := pattern("after", 30_000)
	if got, _, err := get(t, s.addr, "after", client.Options{Blksize: 1468}); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("download after the upgrade: %d bytes, %v", len(got), err)
	}
	if e := s.sessionOf("after"); e != newEpoch || e == oldEpoch {
		t.Errorf("the new request was served by the master of epoch %s; old %s, new %s", e, oldEpoch, newEpoch)
	}
	select {
	case <-s.Done():
		t.Fatal("the old master exited before its sessions ended")
	default:
	}
	if resp, err := http.Get("http://" + maddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz after the upgrade: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// GET /sessions, now answered by the new master, lists the held
	// downloads that the old master still runs (its last report, about
	// every second).
	eventually(t, 10*time.Second, "the old master's downloads in the new master's /sessions", func() bool {
		n := 0
		for _, x := range liveSnapshot(t, maddr).Sessions {
			if x.File == "big" && strings.HasPrefix(x.ID, oldEpoch+"-") && x.Bytes >= bigSize/4 {
				n++
			}
		}
		return n == downloads
	})

	release()
	for range downloads {
		r := <-long
		if r.err != nil || !bytes.Equal(r.g.buf.Bytes(), pattern("big", bigSize)) {
			t.Errorf("a download across the upgrade: %d bytes, %v", r.g.buf.Len(), r.err)
		}
	}
	if code, err := s.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("old master: status %d, %v\n%s", code, err, tail(s.log(), 4000))
	}
	close(stopProbes)
	<-probesDone
	if probes == 0 || probeFailures > 0 {
		t.Errorf("%d of %d probes unanswered (last: %v)", probeFailures, probes, probeErr)
	}
	t.Logf("%d probes answered during the upgrade", probes)
	bigs := 0
	for _, l := range s.sessions() {
		if l["file"] == "big" {
			bigs++
			if id := fmt.Sprint(l["session_id"]); !strings.HasPrefix(id, oldEpoch+"-") {
				t.Errorf("a download across the upgrade was logged by %s, want the old master (epoch %s)", id, oldEpoch)
			}
		}
	}
	if bigs != downloads {
		t.Errorf("%d session lines for the downloads across the upgrade, want %d", bigs, downloads)
	}
	if got := readPid(t, pidFile); got != newPid {
		t.Errorf("pid file %d after the old master exited, want %d", got, newPid)
	}

	// -V and build_info: the new version.
	if v := versionOf(t, exe); !strings.Contains(v, newVersion) || v == oldVersion {
		t.Errorf("-V of the new binary: %q (old %q)", v, oldVersion)
	}
	// The new master's metrics carry the old one's sessions: as many
	// successes as session lines (both masters log to this pipe).
	successes := func() float64 {
		n := 0
		for _, l := range s.sessions() {
			if l["outcome"] == "success" {
				n++
			}
		}
		return float64(n)
	}
	eventually(t, 20*time.Second, "every session counted by the new master's metrics", func() bool {
		m := scrape(t, maddr)
		return m[`fbtftp_sessions_total{op="rrq",outcome="success"}`] == successes() && m[`fbtftp_sessions_active`] == 0
	})
	m := scrape(t, maddr)
	for k := range m {
		if strings.HasPrefix(k, "fbtftp_build_info{") && !strings.Contains(k, `version="`+newVersion+`"`) {
			t.Errorf("build_info of another version: %s", k)
		}
	}
	if m[`fbtftp_bytes_total{direction="sent"}`] < downloads*bigSize {
		t.Errorf("bytes sent %v, want at least %d", m[`fbtftp_bytes_total{direction="sent"}`], downloads*bigSize)
	}
	if st := procState(newPid); st == "Z" || st == "" {
		t.Fatalf("new master %d: state %q", newPid, st)
	}
	// The test's own keep-alive connections to the metrics listener and
	// a pool worker being started at this instant hold descriptors for a
	// moment; a leak holds them for good.
	http.DefaultClient.CloseIdleConnections()
	var newFDs int
	deadline := time.Now().Add(10 * time.Second)
	for newFDs = fdCount(newPid); newFDs > oldFDs && time.Now().Before(deadline); newFDs = fdCount(newPid) {
		time.Sleep(20 * time.Millisecond)
	}
	if newFDs > oldFDs {
		t.Errorf("the new master has %d descriptors, the old one had %d: %v", newFDs, oldFDs, fdTargets(newPid))
	}
	eventually(t, 10*time.Second, "no zombie under the new master", func() bool {
		for _, c := range children(newPid) {
			if procState(c) == "Z" {
				return false
			}
		}
		return true
	})
	// SIGTERM on the new master: STOPPING=1 from it.
	if code := stopChild(t, newPid); code != 0 {
		t.Errorf("new master exit status %d", code)
	}
	if n := ns.next(t); n.pid != newPid || n.msg != "STOPPING=1" {
		t.Errorf("notification %+v, want STOPPING=1 from %d", n, newPid)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after the new master stopped: %v", err)
	}
}

// TestUpgradeFailedStart: when the new binary cannot start (a file that
// exits 1, or none), the old master goes on serving, logs why, keeps its
// pid file, and a later SIGUSR2 with a good binary upgrades.
func TestUpgradeFailedStart(t *testing.T) {
	subreaper(t)
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 5000})
	dir := t.TempDir()
	exe := filepath.Join(dir, "fbtftp-master")
	copyFile(t, filepath.Join(bin, "fbtftp-master"), exe, 0o755)
	pidFile := filepath.Join(dir, "pid")
	s := &server{proc: startProc(t, exec.Command(exe, "-L", "-a", "127.0.0.1:0", "-s", root, "--log-format", "json",
		"--worker", filepath.Join(bin, "fbtftp-worker"), "-P", pidFile, "--metrics-addr", "127.0.0.1:0"))}
	s.addr = s.listening(1)[0]
	t.Cleanup(s.stop)
	oldPid := s.pid()
	epoch := s.epochOf(oldPid)
	want := pattern("f", 5000)

	for i, tc := range []struct {
		name    string
		replace func()
		want    string
	}{
		{"exits 1", func() { writeScript(t, exe, "#!/bin/sh\nexit 1\n") }, "exit status 1"},
		{"missing", func() { os.Remove(exe) }, "no such file"},
		{"not ready", func() { writeScript(t, exe, "#!/bin/sh\necho started >&2\nexec 3>&-\nexec sleep 60\n") }, "closed the control channel"},
	} {
		func() { // not t.Run: s reports to t
			t.Logf("new binary: %s", tc.name)
			tc.replace()
			s.cmd.Process.Signal(syscall.SIGUSR2)
			ls := s.waitLog("upgrade failed: still serving", i+1)
			if msg := fmt.Sprint(ls[i]["error"]); !strings.Contains(msg, tc.want) {
				t.Errorf("logged error %q, want %q", msg, tc.want)
			}
			if got, _, err := get(t, s.addr, "f", client.Options{}); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("download after the failed upgrade: %v", err)
			}
			ss := s.waitSessions(i + 1)
			if id := fmt.Sprint(ss[i]["session_id"]); !strings.HasPrefix(id, epoch+"-") {
				t.Errorf("served by %s, want the old master (epoch %s)", id, epoch)
			}
			if got := readPid(t, pidFile); got != oldPid {
				t.Errorf("pid file %d, want %d", got, oldPid)
			}
			// The process that failed was reaped before the error was logged.
			if m := regexp.MustCompile(`new process (\d+)`).FindStringSubmatch(fmt.Sprint(ls[i]["error"])); m != nil {
				if pid, _ := strconv.Atoi(m[1]); procState(pid) != "" {
					t.Errorf("the failed new master %d is still there: state %q", pid, procState(pid))
				}
			}
		}()
	}

	// The binary back: the upgrade works.
	copyFile(t, filepath.Join(bin, "fbtftp-master"), exe, 0o755)
	s.cmd.Process.Signal(syscall.SIGUSR2)
	newPid, _ := strconv.Atoi(s.logValue("upgrade: the new master serves; finishing the sessions in flight", "new_pid"))
	if newPid <= 0 || newPid == oldPid {
		t.Fatalf("new pid %d", newPid)
	}
	if code, err := s.Wait(30 * time.Second); err != nil || code != 0 {
		t.Fatalf("old master: status %d, %v", code, err)
	}
	if got := readPid(t, pidFile); got != newPid {
		t.Errorf("pid file %d, want %d", got, newPid)
	}
	if got, _, err := get(t, s.addr, "f", client.Options{}); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("download from the new master: %v", err)
	}
	if code := stopChild(t, newPid); code != 0 {
		t.Errorf("new master exit status %d", code)
	}
}

// copyFile copies src to dst (replacing it by a rename).
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// writeScript replaces path by a shell script, as a package upgrade
// replaces a binary (a rename: the running file is untouched).
func writeScript(t *testing.T, path, script string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeModes: SIGUSR2 under systemd socket activation (the sockets
// systemd passed are handed over; the new master's workers hold neither
// them nor the handover's variables) and in in.tftpd -l's daemon mode
// (the pid file follows; logs went to syslog, the new daemon's do too).
func TestUpgradeModes(t *testing.T) {
	subreaper(t)
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 70_000})
	want := pattern("f", 70_000)
	download := func(t *testing.T, addr netip.AddrPort) {
		t.Helper()
		if got, _, err := get(t, addr, "f", client.Options{}); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("download: %v (%d bytes)", err, len(got))
		}
	}

	t.Run("systemd", func(t *testing.T) {
		sock, addr, ino := udpSocket(t)
		ns := newNotifySocket(t)
		m := masterCmd("--systemd", "-s", root, "--prefork", "1")
		cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, m.Path}, m.Args[1:]...)...)
		cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=tftp", "NOTIFY_SOCKET="+ns.path)
		cmd.ExtraFiles = []*os.File{sock} // fd 3
		p := startProc(t, cmd)
		p.listening(1)
		if n := ns.next(t); n.msg != "READY=1\nSTATUS=serving" {
			t.Fatalf("notification %+v", n)
		}
		sock.Close() // only the master holds it now
		download(t, addr)
		p.cmd.Process.Signal(syscall.SIGUSR2)
		newPid, _ := strconv.Atoi(fmt.Sprint(p.waitLog("upgrade: the new master serves; finishing the sessions in flight", 1)[0]["new_pid"]))
		t.Cleanup(func() { stopChild(t, newPid) })
		if n := ns.next(t); n.msg != "MAINPID="+strconv.Itoa(newPid)+"\nSTATUS=serving (pid "+strconv.Itoa(newPid)+" took over from pid "+strconv.Itoa(p.pid())+")" {
			t.Errorf("notification %+v", n)
		}
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("old master: exit status %d", code)
		}
		ls := p.listening(2)
		if ls[1] != addr || p.find("listening")[1]["mode"] != "systemd" {
			t.Errorf("the new master: %v", p.find("listening")[1])
		}
		download(t, addr)
		eventually(t, 10*time.Second, "a pool worker of the new master", func() bool { return len(children(newPid)) > 0 })
		noSocketLeak(t, newPid, ino)
		if code := stopChild(t, newPid); code != 0 {
			t.Errorf("new master: exit status %d", code)
		}
		if n := ns.next(t); n.pid != newPid || n.msg != "STOPPING=1" {
			t.Errorf("notification %+v", n)
		}
	})

	t.Run("daemon", func(t *testing.T) {
		pidFile := filepath.Join(worldReadableDir(t), "tftpd.pid")
		p := startProc(t, masterCmd("-l", "-a", "127.0.0.1:0", "-s", root, "-P", pidFile))
		if code := p.wait(15 * time.Second); code != 0 {
			t.Fatalf("-l: exit status %d", code)
		}
		daemon := readPid(t, pidFile)
		addr := p.listening(1)[0]
		download(t, addr)
		syscall.Kill(daemon, syscall.SIGUSR2)
		var newPid int
		eventually(t, 30*time.Second, "the pid file to name the new daemon", func() bool {
			newPid = readPid(t, pidFile)
			return newPid != daemon
		})
		t.Cleanup(func() { stopChild(t, newPid) })
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(daemon, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
			t.Errorf("old daemon: %v, status %d", err, ws.ExitStatus())
		}
		if sid, _ := unix.Getsid(newPid); sid != daemon {
			t.Errorf("new daemon in session %d, want the old one's %d (detached from any terminal)", sid, daemon)
		}
		download(t, addr)
		if code := stopChild(t, newPid); code != 0 {
			t.Errorf("new daemon: exit status %d", code)
		}
		if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
			t.Errorf("pid file left: %v", err)
		}
	})
}
