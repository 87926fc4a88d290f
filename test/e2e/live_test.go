package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/live"
	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// liveSnapshot reads GET /sessions.
func liveSnapshot(t *testing.T, addr string) live.Snapshot {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s live.Snapshot
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/sessions: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("/sessions: %v", err)
	}
	return s
}

// slowDownload is a download the client throttles: it acknowledges a
// block every 2 ms (about 250 KB/s at blksize 512) until hurry is called,
// then as fast as it can. wait returns the bytes it got.
type slowDownload struct {
	fast  chan struct{}
	once  sync.Once
	done  chan error
	got   int
	local netip.AddrPort
}

func startSlowDownload(t *testing.T, server netip.AddrPort, file string) *slowDownload {
	t.Helper()
	sess, err := client.NewSession(server, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	sess.SendRequest(proto.OpRRQ, file, "octet", []proto.Option{{Name: "tsize", Value: "0"}})
	p, err := sess.RecvPacket(5 * time.Second)
	if err != nil || p.Op != proto.OpOACK {
		t.Fatalf("%+v %v", p, err)
	}
	d := &slowDownload{fast: make(chan struct{}), done: make(chan error, 1), local: sess.LocalAddr()}
	from := p.From
	sess.SendAck(from, 0)
	go func() { // ends with the transfer, or at the first error
		next := uint16(1)
		for {
			p, err := sess.RecvPacket(10 * time.Second)
			if err != nil {
				d.done <- err
				return
			}
			if p.Op != proto.OpDATA {
				d.done <- fmt.Errorf("%v packet: %+v", p.Op, p)
				return
			}
			if p.Block == next { // else a retransmission: ACK it again
				d.got += len(p.Payload)
				next++
			}
			sess.SendAck(from, p.Block)
			if p.Block == next-1 && len(p.Payload) < proto.DefaultBlksize {
				d.done <- nil
				return
			}
			select {
			case <-d.fast:
			default:
				time.Sleep(2 * time.Millisecond) // the throttle, not a wait for an event
			}
		}
	}()
	return d
}

func (d *slowDownload) hurry() { d.once.Do(func() { close(d.fast) }) }

func (d *slowDownload) wait(t *testing.T) int {
	t.Helper()
	d.hurry()
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("download: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("download did not end")
	}
	return d.got
}

// TestLiveSessions: while a long download runs (throttled by the client),
// fbtftp_bytes_total grows from the worker's progress reports and GET
// /sessions lists the session with its figures; fbtftp-top shows it, in
// batch mode and on a terminal; once it ends the list is empty and the
// bytes are counted exactly once.
func TestLiveSessions(t *testing.T) {
	const size = 4 << 20 // 8192 blocks of 512: 16 s or more at the throttle
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"initrd": size})
	s := startServer(t, root, "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	maddr := s.metricsAddr(t)
	if l := liveSnapshot(t, maddr); len(l.Sessions) != 0 || l.LastMinute.Requests["accepted"] != 0 {
		t.Fatalf("at start: %+v", l)
	}

	d := startSlowDownload(t, s.addr, "initrd")
	defer d.hurry()
	var sess live.Session
	eventually(t, 20*time.Second, "bytes_total and /sessions moving while the download runs", func() bool {
		m := scrape(t, maddr)
		l := liveSnapshot(t, maddr)
		sent := m[`fbtftp_bytes_total{direction="sent"}`]
		if len(l.Sessions) != 1 || sent == 0 || l.Sessions[0].Bytes == 0 || l.Sessions[0].Rate == 0 {
			return false
		}
		if sent >= size {
			t.Fatalf("bytes_total %v before the end: the download was not slow enough to see it run", sent)
		}
		sess = l.Sessions[0]
		return true
	})
	kids := children(s.pid())
	if sess.File != "initrd" || sess.Op != "rrq" || sess.Mode != "octet" || sess.Peer != d.local.String() ||
		sess.BytesTotal != size || sess.Blksize != 512 || sess.Source != "file" || sess.Bytes >= size ||
		sess.Age <= 0 || sess.PacketsSent == 0 || sess.RTT <= 0 || sess.RTT > 5 || !slices.Contains(kids, sess.WorkerPID) {
		t.Errorf("session %+v (children %v, client %v)", sess, kids, d.local)
	}
	if l := liveSnapshot(t, maddr); l.LastMinute.Requests["accepted"] != 1 || l.LastMinute.Seconds <= 0 {
		t.Errorf("last minute %+v", l.LastMinute)
	}

	// fbtftp-top, batch mode: one frame with the session's row.
	out, err := exec.Command(filepath.Join(bin, "fbtftp-top"), "-b", "-n", "1", maddr).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("initrd")) || !bytes.Contains(out, []byte(d.local.String())) ||
		!bytes.Contains(out, []byte("1 sessions")) || !bytes.Contains(out, []byte("%")) {
		t.Errorf("fbtftp-top -b: %v\n%s", err, out)
	}
	// And on a terminal: the row, s sorts by rate, q quits and restores
	// the screen.
	top := startOnPty(t, filepath.Join(bin, "fbtftp-top"), "-d", "200ms", maddr)
	top.waitFor(t, "initrd", "sort: age (s: sort, q: quit)", "%", "[", strconv.Itoa(sess.WorkerPID))
	top.write(t, "s")
	top.waitFor(t, "sort: rate")
	top.write(t, "q")
	if err := top.wait(10 * time.Second); err != nil {
		t.Errorf("fbtftp-top after q: %v\n%q", err, top.output())
	}
	if o := top.output(); !strings.HasSuffix(o, "\x1b[?25h\x1b[?1049l") {
		t.Errorf("the terminal was not restored: %q", o[max(len(o)-40, 0):])
	}

	if got := d.wait(t); got != size {
		t.Fatalf("got %d bytes, want %d", got, size)
	}
	s.waitSessions(1)
	eventually(t, 10*time.Second, "the session gone from /sessions", func() bool {
		return len(liveSnapshot(t, maddr).Sessions) == 0
	})
	m := scrape(t, maddr)
	if got := m[`fbtftp_bytes_total{direction="sent"}`]; got != size {
		t.Errorf("bytes_total %v after the download, want %d (counted once)", got, size)
	}
	// DATA 1..8193 (the last one empty: 4 MiB is a multiple of 512) and the OACK.
	if got := m[`fbtftp_packets_total{direction="sent"}`]; got < size/512+2 {
		t.Errorf("packets sent %v, want at least %d", got, size/512+2)
	}
	if l := liveSnapshot(t, maddr); l.LastMinute.Outcomes["success"] != 1 {
		t.Errorf("last minute %+v", l.LastMinute)
	}
	s.noViolations()
}

// ptyProc is a process on a pseudo-terminal (80x24 unless told), its output
// collected.
type ptyProc struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	more chan struct{} // a signal per read
	read chan struct{} // closed when the terminal's output ends
	done chan error
}

// startOnPty runs argv on a new pseudo-terminal of 140x30, as its
// controlling terminal, and stops it in t.Cleanup.
func startOnPty(t *testing.T, argv ...string) *ptyProc {
	t.Helper()
	// Non-blocking: os.NewFile puts the master side in the runtime poller,
	// so Close ends a pending Read.
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	ptmx := os.NewFile(uintptr(fd), "ptmx")
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 140})
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		tty.Close()
		ptmx.Close()
		t.Fatal(err)
	}
	tty.Close() // the child's now
	p := &ptyProc{cmd: cmd, ptmx: ptmx, more: make(chan struct{}, 1), read: make(chan struct{}), done: make(chan error, 1)}
	go func() { // ends at EIO once the child is gone, or when ptmx is closed
		defer close(p.read)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			p.mu.Lock()
			p.out.Write(b[:n])
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait(5 * time.Second)
		ptmx.Close()
	})
	return p
}

func (p *ptyProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits up to 20 s until the output holds every string of want.
func (p *ptyProc) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		o := p.output()
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(o, w) }) {
			return
		}
		select {
		case <-p.more:
		case <-p.read:
			t.Fatalf("terminal closed without %q; its last output:\n%q", want, o[max(len(o)-2000, 0):])
		case <-deadline:
			t.Fatalf("no %q on the terminal; its last output:\n%q", want, o[max(len(o)-2000, 0):])
		}
	}
}

func (p *ptyProc) write(t *testing.T, s string) {
	t.Helper()
	if _, err := p.ptmx.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// wait waits up to d for the process to exit, and for its last output.
func (p *ptyProc) wait(d time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err // for a second wait
		select {
		case <-p.read:
		case <-time.After(d):
		}
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}
