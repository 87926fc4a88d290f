package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

var sizes = map[string]int{
	"zero": 0, "one": 1, "b512": 512, "b1468": 1468, "b8192x3": 3 * 8192, "b65464": 65464,
	"odd": 100_003, "dir/nested.bin": 4096,
}

func TestDownloadsOwnClient(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, sizes)
	addrs := []string{"127.0.0.1:0"}
	if testenv.HaveIPv6Loopback() {
		addrs = append(addrs, "[::1]:0")
	}
	for _, addr := range addrs {
		s := startServer(t, root, addr, "--prefork", "2")
		for name := range sizes {
			want, _ := os.ReadFile(filepath.Join(root, name))
			for _, o := range []client.Options{
				{}, {Blksize: 1468, Tsize: true}, {Blksize: 8192}, {Blksize: 65464, Tsize: true},
				{Blksize: 1468, Windowsize: 16}, {Mode: proto.ModeNetascii},
			} {
				got, res, err := get(t, s.addr, name, o)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s %s %+v: %v (%d bytes, want %d)", addr, name, o, err, len(got), len(want))
				}
				if res.Peer.Addr() != s.addr.Addr() {
					t.Errorf("reply from %v, server %v", res.Peer, s.addr)
				}
				if o.Tsize && len(want) > 0 && res.Tsize != int64(len(want)) {
					t.Errorf("%s tsize %d, want %d", name, res.Tsize, len(want))
				}
			}
		}
	}
}

// TestRollover downloads 40 MiB at blksize 512: 81,921 blocks, past 65535.
func TestRollover(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"big": 40 << 20})
	s := startServer(t, root, "127.0.0.1:0")
	want, _ := os.ReadFile(filepath.Join(root, "big"))
	for _, o := range []client.Options{{}, {Rollover: client.RolloverOne, Windowsize: 16}} {
		got, res, err := get(t, s.addr, "big", o)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%+v: %v (%d bytes)", o, err, len(got))
		}
		if res.Blocks != 81921 {
			t.Errorf("blocks %d", res.Blocks)
		}
	}
}

func TestRealClients(t *testing.T) {
	root := worldReadableDir(t)
	files := map[string]int{"zero": 0, "one": 1, "b512": 512, "b1468x2": 2936, "odd": 300_007}
	writeFiles(t, root, files)
	text := []byte("line one\nline two\r\nbare cr\r end\n")
	os.WriteFile(filepath.Join(root, "text.txt"), text, 0o644)
	hosts := []string{"127.0.0.1:0"}
	if testenv.HaveIPv6Loopback() {
		hosts = append(hosts, "[::1]:0")
	}
	for _, h := range hosts {
		s := startServer(t, root, h, "--prefork", "2")
		for _, c := range testenv.Clients() {
			for name := range files {
				want, _ := os.ReadFile(filepath.Join(root, name))
				for _, d := range []testenv.Download{
					{Blksize: 0}, {Blksize: 512, Tsize: true}, {Blksize: 1468}, {Blksize: 8192, Tsize: true},
					{Blksize: 65464}, {Blksize: 1468, Windowsize: 16},
				} {
					d.Host, d.File = s.addr, name
					label := fmt.Sprintf("%s/%s/%s/%+v", h, c.Name, name, d)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					got, err := c.Download(ctx, t, d)
					cancel()
					if errors.Is(err, testenv.ErrUnsupported) {
						continue
					}
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: %v (%d bytes, want %d)", label, err, len(got), len(want))
					}
				}
			}
			// netascii: LF -> CR LF on the wire, back to LF by the client
			// (curl keeps the wire form).
			want := text
			if c.Name == "curl" {
				want, _ = io.ReadAll(proto.NewNetasciiEncoder(bytes.NewReader(text)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			got, err := c.Download(ctx, t, testenv.Download{Host: s.addr, File: "text.txt", Mode: "netascii"})
			cancel()
			if err != nil && !errors.Is(err, testenv.ErrUnsupported) {
				t.Errorf("%s netascii: %v", c.Name, err)
			} else if err == nil && !bytes.Equal(got, want) {
				t.Errorf("%s netascii: got %q want %q", c.Name, got, want)
			}
		}
	}
}

func TestErrorsEndToEnd(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"ok": 10, "dir/x": 1})
	os.WriteFile(filepath.Join(root, "private"), []byte("p"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(root, "escape"))
	s := startServer(t, root, "127.0.0.1:0")
	for _, c := range []struct {
		file string
		code proto.ErrorCode
	}{
		{"missing", proto.ErrNotFound}, {"ok/x", proto.ErrNotFound},
		{"../etc/passwd", proto.ErrAccessViolation}, {"dir/../../etc/passwd", proto.ErrAccessViolation},
		{"dir", proto.ErrAccessViolation}, {"private", proto.ErrAccessViolation},
		{strings.Repeat("a", 4000), proto.ErrNotFound},
	} {
		_, _, err := get(t, s.addr, c.file, client.Options{})
		var se *tftp.Error
		if !errors.As(err, &se) || se.Code != c.code {
			t.Errorf("%.40s: %v, want code %d", c.file, err, c.code)
		}
	}
	// The symlink leads out of the root: refused without a chroot (ERROR
	// 2), or resolved inside the chroot where /etc/passwd does not exist.
	_, _, err := get(t, s.addr, "escape", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) || (se.Code != proto.ErrAccessViolation && se.Code != proto.ErrNotFound) {
		t.Errorf("escape: %v", err)
	}
}

// TestReplySource sends to 127.0.0.2 on a wildcard listener: every reply
// must come from 127.0.0.2.
func TestReplySource(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 5000})
	s := startServer(t, root, ":0")
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(ip), s.addr.Port())
		got, res, err := get(t, to, "f", client.Options{Blksize: 1024})
		if err != nil || len(got) != 5000 {
			t.Fatalf("%s: %v", ip, err)
		}
		if res.Peer.Addr().String() != ip {
			t.Errorf("request to %s answered from %v", ip, res.Peer)
		}
	}
	// Errors from the master itself too (an unknown mode).
	sess, err := client.NewSession(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), s.addr.Port()), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "f", "mail", nil)
	p, err := sess.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpERROR || p.From.Addr().String() != "127.0.0.2" {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestManySessions(t *testing.T) {
	const prefork = 4
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"small": 4096, "mid": 70_000})
	// The 100 concurrent clients all come from 127.0.0.1: no per-client limit.
	s := startServer(t, root, "127.0.0.1:0", idleExit("--prefork", fmt.Sprint(prefork), "--max-sessions-per-client", "0")...)
	eventually(t, 10*time.Second, "pool started", func() bool { return len(children(s.pid())) == prefork })
	idleFDs := fdCount(s.pid())
	for i := range 500 {
		got, _, err := get(t, s.addr, "small", client.Options{})
		if err != nil || len(got) != 4096 {
			t.Fatalf("sequential %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			name, size := "small", 4096
			if i%2 == 1 {
				name, size = "mid", 70_000
			}
			got, _, err := get(t, s.addr, name, client.Options{Blksize: 1468})
			if err == nil && len(got) != size {
				err = fmt.Errorf("%d bytes", len(got))
			}
			if err != nil {
				errs <- fmt.Errorf("concurrent %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ss := s.waitSessions(600)
	for _, m := range ss {
		if m["outcome"] != "success" {
			t.Errorf("session %v", m)
		}
	}
	// Afterwards: the pool is back to its size, no zombie, no fd leak.
	eventually(t, 15*time.Second, "pool back to prefork size", func() bool {
		kids := children(s.pid())
		for _, k := range kids {
			if procState(k) == "Z" {
				return false
			}
		}
		return len(kids) == prefork
	})
	eventually(t, 10*time.Second, fmt.Sprintf("fd count back to %d", idleFDs), func() bool { return fdCount(s.pid()) <= idleFDs })
}

func TestWorkerKilledMidTransfer(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"big": 2 << 20, "one": 1})
	s := startServer(t, root, "127.0.0.1:0", idleExit()...)
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "big", "octet", nil)
	p, err := sess.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	kids := children(s.pid())
	if len(kids) != 1 {
		t.Fatalf("children %v", kids)
	}
	if err := killPID(kids[0]); err != nil {
		t.Fatal(err)
	}
	ss := s.waitSessions(1)
	if ss[0]["outcome"] != "worker_crash" {
		t.Fatalf("session %v", ss[0])
	}
	if got, _, err := get(t, s.addr, "one", client.Options{}); err != nil || len(got) != 1 {
		t.Fatalf("after crash: %v", err)
	}
	eventually(t, 5*time.Second, "crashed worker reaped", func() bool { return len(children(s.pid())) == 0 })
}

func TestMasterKilled(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"big": 2 << 20})
	s := startServer(t, root, "127.0.0.1:0", "--prefork", "2")
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "big", "octet", nil)
	if p, err := sess.RecvPacket(5 * time.Second); err != nil || p.Op != proto.OpDATA {
		t.Fatalf("%+v %v", p, err)
	}
	eventually(t, 10*time.Second, "pool and busy worker", func() bool { return len(children(s.pid())) == 3 })
	kids := children(s.pid())
	killPID(s.pid())
	<-s.Done()
	// Every worker sees EOF on its socketpair and exits: idle ones at once,
	// the busy one by ending its session.
	eventually(t, 10*time.Second, "workers gone after the master was killed", func() bool {
		for _, k := range kids {
			if st := procState(k); st != "" && st != "Z" {
				return false
			}
		}
		return true
	})
}

func TestMalformedFlood(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"f": 100_000})
	s := startServer(t, root, "127.0.0.1:0")
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	junk := [][]byte{{}, {0}, {0, 1}, {0, 1, 'a'}, {0, 3, 0, 1, 'x'}, {0, 4, 0, 1}, {0, 5, 0, 1, 'e', 0}, {0, 9, 'a', 0, 'b', 0},
		{0, 1, 'f', 0, 'o', 'c', 't', 'e', 't'}, bytes.Repeat([]byte{0xff}, 1400)}
	for i := range 10_000 {
		sess.Send(junk[i%len(junk)])
		if i%1000 == 0 {
			if n := len(children(s.pid())); n != 0 {
				t.Fatalf("a worker was spawned during the flood: %d", n)
			}
		}
	}
	got, _, err := get(t, s.addr, "f", client.Options{})
	if err != nil || len(got) != 100_000 {
		t.Fatalf("download after flood: %v", err)
	}
	if ss := s.waitSessions(1); len(ss) != 1 {
		t.Fatalf("sessions %d", len(ss))
	}
	if _, err := sess.RecvPacket(100 * time.Millisecond); err == nil {
		t.Fatal("junk was answered")
	}
}

func TestWorkerByHand(t *testing.T) {
	out, err := exec.Command(filepath.Join(bin, "fbtftp-worker")).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "must be started by fbtftp-master") {
		t.Fatalf("err %v output %q", err, out)
	}
}

func TestStaticExample(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"hello": 777, "sub/x": 3})
	s := startServer(t, root, "127.0.0.1:0", "--worker", filepath.Join(bin, "static"))
	for name, n := range map[string]int{"hello": 777, "/sub/x": 3} {
		got, _, err := get(t, s.addr, name, client.Options{Blksize: 1468, Tsize: true})
		if err != nil || len(got) != n {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, _, err := get(t, s.addr, "missing", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != proto.ErrNotFound {
		t.Fatalf("missing: %v", err)
	}
	if !strings.Contains(s.log(), `"static request"`) {
		t.Error("the custom handler did not log")
	}
}
