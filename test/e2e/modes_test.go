package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Tests of the ways in.tftpd is run: inetd/xinetd (the socket on standard
// input), systemd socket activation, standalone with several addresses,
// SIGHUP, and the non-secure (several directories) mode.

// masterCmd is fbtftp-master with args and the built worker.
func masterCmd(args ...string) *exec.Cmd {
	return exec.Command(filepath.Join(bin, "fbtftp-master"),
		append(args, "--worker", filepath.Join(bin, "fbtftp-worker"), "--log-format", "json", "--drain-timeout", "5s")...)
}

// udpSocket returns a bound UDP socket on 127.0.0.1 as a file (to pass to
// a child), its address and inode (to look for leaks).
func udpSocket(t *testing.T) (*os.File, netip.AddrPort, uint64) {
	t.Helper()
	f, addr, err := testenv.BoundSocket(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return f, addr, st.Ino
}

// noSocketLeak checks that no child of pid holds the socket inode, and
// that none has systemd's variables in its environment.
func noSocketLeak(t *testing.T, pid int, ino uint64) {
	t.Helper()
	kids := children(pid)
	if len(kids) == 0 {
		t.Fatal("no worker to inspect")
	}
	masterExe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	for _, k := range kids {
		// Between fork and exec a child holds a copy of every descriptor
		// of the master (close-on-exec ones close at the exec): inspect
		// it once it runs the worker (or is gone).
		eventually(t, 10*time.Second, "the worker's exec", func() bool {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", k))
			return err != nil || exe != masterExe
		})
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", k))
		for _, fd := range fds {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", k, fd.Name()))
			if l == fmt.Sprintf("socket:[%d]", ino) {
				t.Errorf("worker %d holds the listening socket as fd %s", k, fd.Name())
			}
		}
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", k))
		for _, v := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(v, "LISTEN_") || strings.HasPrefix(v, "FBTFTP_DAEMON") || strings.HasPrefix(v, "FBTFTP_UPGRADE") || strings.HasPrefix(v, "NOTIFY_SOCKET") {
				t.Errorf("worker %d environment has %s", k, v)
			}
		}
	}
}

// rawGet sends an RRQ for a file of less than 512 bytes from conn and
// returns its content.
func rawGet(t *testing.T, conn *net.UDPConn, server netip.AddrPort, file string, sent bool) []byte {
	t.Helper()
	if !sent {
		if _, err := conn.WriteToUDPAddrPort(proto.AppendRequest(nil, proto.OpRRQ, file, "octet", nil), server); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 1024)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 || buf[1] != byte(proto.OpDATA) || buf[3] != 1 || n-4 >= 512 {
		t.Fatalf("reply % x", buf[:min(n, 40)])
	}
	conn.WriteToUDPAddrPort([]byte{0, byte(proto.OpACK), 0, 1}, from)
	return append([]byte(nil), buf[4:n]...)
}

// TestInetdMode is Fedora's tftp.socket + StandardInput=socket and
// xinetd's wait=yes: the socket is standard input (and output), a request
// is already queued when the master starts, and the master exits after -t
// seconds without requests.
func TestInetdMode(t *testing.T) {
	for _, allFDs := range []bool{false, true} {
		t.Run(fmt.Sprintf("stderr_is_socket=%v", allFDs), func(t *testing.T) {
			root := worldReadableDir(t)
			writeFiles(t, root, map[string]int{"small": 300, "big": 200_000})
			sock, addr, ino := udpSocket(t)

			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Queued before the master exists: inetd starts it because of it.
			if _, err := c.WriteToUDPAddrPort(proto.AppendRequest(nil, proto.OpRRQ, "small", "octet", nil), addr); err != nil {
				t.Fatal(err)
			}
			cmd := masterCmd("-s", root, "-t", "1", "--prefork", "1")
			cmd.Stdin, cmd.Stdout = sock, sock
			if allFDs {
				cmd.Stderr = sock // xinetd: fds 0, 1 and 2 are the socket
			}
			p := startProc(t, cmd)
			if got := rawGet(t, c, addr, "small", true); !bytes.Equal(got, pattern("small", 300)) {
				t.Fatalf("queued request: %d bytes", len(got))
			}
			got, _, err := get(t, addr, "big", client.Options{Blksize: 1468})
			if err != nil || !bytes.Equal(got, pattern("big", 200_000)) {
				t.Fatalf("second request: %v (%d bytes)", err, len(got))
			}
			eventually(t, 10*time.Second, "a pool worker", func() bool { return len(children(p.cmd.Process.Pid)) > 0 })
			noSocketLeak(t, p.cmd.Process.Pid, ino)
			if !allFDs {
				if ls := p.listening(1); ls[0] != addr {
					t.Errorf("listening on %v, socket is %v", ls[0], addr)
				}
				if m := p.find("listening")[0]; m["mode"] != "inetd" {
					t.Errorf("mode %v", m["mode"])
				}
			}
			// -t 1: exits once idle, with status 0.
			if code := p.wait(15 * time.Second); code != 0 {
				t.Errorf("exit status %d", code)
			}
			if !allFDs && len(p.find("idle timeout")) != 1 {
				t.Error("no idle timeout line")
			}
		})
	}
}

// TestInetdSIGHUP: in inetd mode in.tftpd exits on SIGHUP (inetd starts it
// again on the next request).
func TestInetdSIGHUP(t *testing.T) {
	root := worldReadableDir(t)
	sock, _, _ := udpSocket(t)
	cmd := masterCmd("-s", root)
	cmd.Stdin = sock
	p := startProc(t, cmd)
	p.listening(1)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGHUP", code)
	}
}

// TestInetdNoSocket: no -l/-L and no socket on standard input is an error
// (in.tftpd: "recvfrom: Socket operation on non-socket", EX_IOERR).
func TestInetdNoSocket(t *testing.T) {
	root := worldReadableDir(t)
	cmd := masterCmd("-s", root)
	cmd.Stdin = nil // /dev/null
	p := startProc(t, cmd)
	if code := p.wait(15 * time.Second); code != 74 {
		t.Errorf("exit status %d, want 74", code)
	}
	if !strings.Contains(p.log(), "standard input is not a UDP socket") {
		t.Errorf("log: %s", p.log())
	}
}

// TestSystemdActivation passes the socket as fd 3 with LISTEN_FDS=1 and
// LISTEN_PID set to the master's pid (by a shell that execs it).
func TestSystemdActivation(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("--systemd=%v", explicit), func(t *testing.T) {
			root := worldReadableDir(t)
			writeFiles(t, root, map[string]int{"f": 70_000})
			sock, addr, ino := udpSocket(t)
			args := []string{"-s", root, "--prefork", "1"}
			if explicit {
				args = append(args, "--systemd")
			}
			m := masterCmd(args...)
			cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, m.Path}, m.Args[1:]...)...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=tftp")
			cmd.ExtraFiles = []*os.File{sock} // fd 3
			p := startProc(t, cmd)
			if ls := p.listening(1); ls[0] != addr {
				t.Fatalf("listening on %v, socket is %v", ls[0], addr)
			}
			if m := p.find("listening")[0]; m["mode"] != "systemd" {
				t.Errorf("mode %v", m["mode"])
			}
			got, _, err := get(t, addr, "f", client.Options{})
			if err != nil || !bytes.Equal(got, pattern("f", 70_000)) {
				t.Fatalf("download: %v (%d bytes)", err, len(got))
			}
			eventually(t, 10*time.Second, "a pool worker", func() bool { return len(children(p.cmd.Process.Pid)) > 0 })
			noSocketLeak(t, p.cmd.Process.Pid, ino)
			p.cmd.Process.Signal(syscall.SIGTERM)
			if code := p.wait(15 * time.Second); code != 0 {
				t.Errorf("exit status %d", code)
			}
		})
	}
	// The packaged service passes TFTP_ADDRESS as -a: it must be the
	// socket's address, or the master refuses to serve (never more
	// addresses than the configuration says).
	t.Run("-a", func(t *testing.T) {
		sock, addr, _ := udpSocket(t)
		run := func(a string) (*proc, *exec.Cmd) {
			m := masterCmd("-s", worldReadableDir(t), "-a", a)
			cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, m.Path}, m.Args[1:]...)...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
			cmd.ExtraFiles = []*os.File{sock}
			return startProc(t, cmd), cmd
		}
		p, _ := run(addr.String())
		if ls := p.listening(1); ls[0] != addr {
			t.Fatalf("listening on %v", ls)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(15 * time.Second)
		other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), addr.Port())
		p, _ = run(other.String())
		if code := p.wait(15 * time.Second); code != 78 {
			t.Errorf("-a %v with a socket on %v: exit status %d, want 78\n%s", other, addr, code, p.log())
		}
		// The reader of the pipe may lag behind the exit.
		eventually(t, 10*time.Second, "the reason in the log", func() bool {
			return strings.Contains(p.log(), "not an address of the sockets systemd passed")
		})
	})
	t.Run("no sockets", func(t *testing.T) {
		out, err := masterCmd("--systemd", "-s", worldReadableDir(t)).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 64 || !strings.Contains(string(out), "--systemd: no sockets passed") {
			t.Errorf("%v: %s", err, out)
		}
	})
}

// TestMultipleAddresses: -a is repeatable; each address gets a listener
// and replies come from the address the client used.
func TestMultipleAddresses(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 5000})
	args := []string{"-L", "-a", "127.0.0.1:0", "--address", "127.0.0.2:0"}
	want := 2
	if testenv.HaveIPv6Loopback() {
		args = append(args, "-a", "[::1]:0")
		want++
	}
	p := startProc(t, masterCmd(append(args, "-s", root)...))
	addrs := p.listening(want)
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		seen[a.Addr()] = true
		got, res, err := get(t, a, "f", client.Options{})
		if err != nil || !bytes.Equal(got, pattern("f", 5000)) {
			t.Fatalf("%v: %v", a, err)
		}
		if res.Peer.Addr() != a.Addr() {
			t.Errorf("request to %v answered from %v", a, res.Peer)
		}
	}
	if len(seen) != want {
		t.Errorf("listening on %v", addrs)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestSIGHUPReload: SIGHUP rereads the map file and replaces the idle
// workers; a map file that became invalid makes the master exit with
// EX_CONFIG, as in.tftpd does.
func TestSIGHUPReload(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 100})
	mapFile := filepath.Join(t.TempDir(), "tftpd.map")
	if err := os.WriteFile(mapFile, []byte("r ^/(.*) \\1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, masterCmd("-L", "-a", "127.0.0.1:0", "-s", root, "-m", mapFile, "--prefork", "2"))
	addr := p.listening(1)[0]
	pid := p.cmd.Process.Pid
	var before []int
	eventually(t, 10*time.Second, "2 pool workers", func() bool { before = children(pid); return len(before) == 2 })

	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("reloaded", 1)
	eventually(t, 10*time.Second, "2 new pool workers", func() bool {
		now := children(pid)
		if len(now) != 2 {
			return false
		}
		for _, k := range now {
			for _, o := range before {
				if k == o {
					return false
				}
			}
		}
		return true
	})
	if _, _, err := get(t, addr, "f", client.Options{}); err != nil {
		t.Fatal(err)
	}

	// A bad map file on SIGHUP keeps the rules in force: the master goes on
	// (in.tftpd exits with EX_CONFIG; TestConfigChangesOnlyOnReload has
	// the details).
	if err := os.WriteFile(mapFile, []byte("r [ x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("reload failed: keeping the configuration in force", 1)
	if _, _, err := get(t, addr, "f", client.Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestNonSecureMode: without -s, requests name absolute paths under one of
// the directories given, with in.tftpd's refusals.
func TestNonSecureMode(t *testing.T) {
	a, b := worldReadableDir(t), worldReadableDir(t)
	writeFiles(t, a, map[string]int{"f": 1000})
	writeFiles(t, b, map[string]int{"sub/g": 2000})
	p := startProc(t, masterCmd("-L", "-a", "127.0.0.1:0", a, b))
	addr := p.listening(1)[0]
	for name, size := range map[string]int{a + "/f": 1000, b + "/sub/g": 2000, b + "//sub/./g": 2000} {
		got, _, err := get(t, addr, name, client.Options{})
		if err != nil || len(got) != size {
			t.Errorf("%s: %v (%d bytes)", name, err, len(got))
		}
	}
	refusals := map[string]string{
		"f":                     "Only absolute filenames allowed",
		"/etc/passwd":           "Forbidden directory",
		a + "/../" + b + "/g":   "Reverse path not allowed",
		a + "/../../etc/passwd": "Reverse path not allowed",
	}
	var ours map[string]string
	check := func(server netip.AddrPort) map[string]string {
		got := map[string]string{}
		for name, msg := range refusals {
			_, _, err := get(t, server, name, client.Options{})
			var se *tftp.Error
			if !errors.As(err, &se) || se.Code != proto.ErrAccessViolation || se.Message != msg {
				t.Errorf("%v %s: %v, want ERROR 2 %q", server, name, err, msg)
			}
			if se != nil {
				got[name] = strconv.Itoa(int(se.Code)) + " " + se.Message
			}
		}
		return got
	}
	ours = check(addr)
	if os.Geteuid() == 0 {
		// The same requests to the real in.tftpd.
		theirs := check(testenv.StartInTftpd(t, a, b))
		for k, v := range ours {
			if theirs[k] != v {
				t.Errorf("%s: in.tftpd %q, fbtftp %q", k, theirs[k], v)
			}
		}
	}
}
