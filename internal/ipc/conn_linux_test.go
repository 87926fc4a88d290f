package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// testTimeout bounds every blocking step; nothing waits for it on success.
const testTimeout = 20 * time.Second

// dupFD returns a close-on-exec duplicate of f's descriptor, owned by the
// caller, without calling f.Fd().
func dupFD(t *testing.T, f *os.File) int {
	t.Helper()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nfd int
	var derr error
	if err := sc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		t.Fatal(derr)
	}
	return nfd
}

// pair returns a connected master and worker Conn, closed at cleanup.
func pair(t *testing.T) (master, worker *Conn) {
	t.Helper()
	m, wf, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	w, err := FromFD(dupFD(t, wf))
	wf.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for _, c := range []*Conn{m, w} {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		c.SetWriteDeadline(time.Now().Add(testTimeout))
	}
	return m, w
}

// sendRaw sends msg with the given files' descriptors attached, bypassing
// all validation.
func sendRaw(t *testing.T, c *Conn, msg []byte, files ...*os.File) {
	t.Helper()
	var fds []int
	for _, f := range files {
		fds = append(fds, dupFD(t, f))
	}
	defer closeFDs(fds) // our copies; the message carries its own
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	var opErr error
	err := c.rc.Write(func(s uintptr) bool {
		_, opErr = unix.SendmsgN(int(s), msg, oob, nil, unix.MSG_DONTWAIT)
		return opErr != unix.EAGAIN
	})
	if err != nil || opErr != nil {
		t.Fatalf("sendmsg: %v %v", err, opErr)
	}
}

// udpSocket returns a UDP socket on 127.0.0.1 as a File, and its address.
func udpSocket(t *testing.T) (*os.File, netip.AddrPort) {
	t.Helper()
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	f, err := uc.File()
	if err != nil {
		t.Fatal(err)
	}
	return f, uc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// requirePipeEOF checks that every write end of the pipe is closed: the
// descriptors we sent were closed (or never installed) by the receiver.
func requirePipeEOF(t *testing.T, r *os.File) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("pipe read = %d, %v; want EOF (a received descriptor leaked)", n, err)
	}
}

func TestSessionOverSocketpair(t *testing.T) {
	m, w := pair(t)

	if err := w.SendHello(); err != nil {
		t.Fatal(err)
	}
	hello, err := m.RecvHello(time.Now().Add(testTimeout))
	if err != nil || hello != (Hello{Version, int32(os.Getpid())}) {
		t.Fatalf("RecvHello = %+v, %v", hello, err)
	}

	sess, local := udpSocket(t)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h := fullHandoff()
	h.Peer = client.LocalAddr().(*net.UDPAddr).AddrPort()
	h.Local = local
	if err := m.SendHandoff(h, sess); err != nil {
		t.Fatal(err)
	}
	sess.Close() // the master's copy

	got, f, err := w.RecvHandoff()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Fatalf("handoff:\n got %+v\nwant %+v", got, h)
	}
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(testTimeout))
	client.SetDeadline(time.Now().Add(testTimeout))

	// Worker -> client through the passed socket: the source is the
	// session's address.
	if _, err := pc.WriteTo([]byte("DATA"), net.UDPAddrFromAddrPort(got.Peer)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := client.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "DATA" || from != local {
		t.Fatalf("client got %q from %v, %v", buf[:n], from, err)
	}
	// Client -> worker.
	if _, err := client.WriteToUDPAddrPort([]byte("ACK"), local); err != nil {
		t.Fatal(err)
	}
	if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "ACK" {
		t.Fatalf("worker got %q, %v", buf[:n], err)
	}

	st := fullStats()
	if err := w.SendStats(st); err != nil {
		t.Fatal(err)
	}
	gotSt, err := m.RecvStats()
	if err != nil || !reflect.DeepEqual(gotSt, st) {
		t.Fatalf("RecvStats = %+v, %v", gotSt, err)
	}

	w.Close()
	if _, err := m.RecvStats(); err != io.EOF {
		t.Fatalf("RecvStats after worker exit = %v, want io.EOF", err)
	}
}

func TestEOF(t *testing.T) {
	t.Run("master gone", func(t *testing.T) {
		m, w := pair(t)
		m.Close()
		if _, _, err := w.RecvHandoff(); err != io.EOF {
			t.Fatalf("RecvHandoff = %v, want io.EOF", err)
		}
		if err := w.SendHello(); !errors.Is(err, unix.EPIPE) {
			t.Fatalf("SendHello to a closed peer = %v, want EPIPE", err)
		}
	})
	t.Run("worker gone before hello", func(t *testing.T) {
		m, w := pair(t)
		w.Close()
		if _, err := m.RecvHello(time.Time{}); err != io.EOF {
			t.Fatalf("RecvHello = %v, want io.EOF", err)
		}
	})
	t.Run("worker gone with handoff unread", func(t *testing.T) {
		// The kernel reports ECONNRESET here; it means the same.
		m, w := pair(t)
		sess, local := udpSocket(t)
		defer sess.Close()
		h := fullHandoff()
		h.Local = local
		if err := m.SendHandoff(h, sess); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if _, err := m.RecvStats(); err != io.EOF {
			t.Fatalf("RecvStats = %v, want io.EOF", err)
		}
	})
	t.Run("empty message", func(t *testing.T) {
		m, w := pair(t)
		sendRaw(t, w, nil)
		if _, err := m.RecvStats(); err != io.EOF {
			t.Fatalf("RecvStats = %v, want io.EOF", err)
		}
	})
}

// TestCloseWrite: after the master's CloseWrite the worker's WaitClosed
// returns (the session stops), and the Stats the worker sends then still
// reach the master.
func TestCloseWrite(t *testing.T) {
	m, w := pair(t)
	done := make(chan struct{})
	go func() {
		w.WaitClosed()
		close(done)
	}()
	if err := m.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitClosed did not return after CloseWrite")
	}
	if err := w.SendStats(fullStats()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RecvStats(); err != nil {
		t.Fatalf("RecvStats after CloseWrite = %v", err)
	}
}

func TestReceivedFDIsCloseOnExec(t *testing.T) {
	m, w := pair(t)
	sess, local := udpSocket(t)
	h := fullHandoff()
	h.Local = local
	if err := m.SendHandoff(h, sess); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	_, f, err := w.RecvHandoff()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var ferr error
	sc.Control(func(fd uintptr) { flags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0) })
	if ferr != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("F_GETFD = %#x, %v: received descriptor is not close-on-exec", flags, ferr)
	}
	typ, err := unix.GetsockoptInt(dupAndClose(t, f), unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_DGRAM {
		t.Fatalf("received socket type %d, %v", typ, err)
	}
}

// dupAndClose returns a duplicate of f's descriptor that is closed at
// cleanup, for syscalls that need a number.
func dupAndClose(t *testing.T, f *os.File) int {
	fd := dupFD(t, f)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestRecvHandoffDescriptorCount(t *testing.T) {
	msg, err := AppendHandoff(nil, fullHandoff())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 2, maxRecvFDs, maxRecvFDs + 2} {
		t.Run(fmt.Sprint(n, " fds"), func(t *testing.T) {
			m, w := pair(t)
			r, wr, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			files := make([]*os.File, n)
			for i := range files {
				files[i] = wr
			}
			sendRaw(t, m, msg, files...)
			wr.Close()
			if _, _, err := w.RecvHandoff(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("RecvHandoff = %v, want ErrMalformed", err)
			}
			requirePipeEOF(t, r)
		})
	}
	t.Run("bad handoff with fd", func(t *testing.T) {
		m, w := pair(t)
		r, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		sendRaw(t, m, []byte{msgHandoff, 0xff}, wr)
		wr.Close()
		if _, _, err := w.RecvHandoff(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("RecvHandoff = %v, want ErrMalformed", err)
		}
		requirePipeEOF(t, r)
	})
}

func TestRecvRejectsDescriptorsFromWorker(t *testing.T) {
	msg, err := AppendStats(nil, fullStats())
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := AppendHello(nil, Hello{Version, 1})
	for _, tc := range []struct {
		name string
		msg  []byte
		recv func(*Conn) error
	}{
		{"stats", msg, func(c *Conn) error { _, err := c.RecvStats(); return err }},
		{"hello", hello, func(c *Conn) error { _, err := c.RecvHello(time.Time{}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, w := pair(t)
			r, wr, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			sendRaw(t, w, tc.msg, wr, wr)
			wr.Close()
			if err := tc.recv(m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("recv = %v, want ErrMalformed", err)
			}
			requirePipeEOF(t, r)
		})
	}
}

func TestOversizedMessage(t *testing.T) {
	m, w := pair(t)
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	big := make([]byte, MaxMessageSize+1)
	big[0] = msgHandoff
	sendRaw(t, m, big, wr)
	wr.Close()
	if _, _, err := w.RecvHandoff(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("RecvHandoff = %v, want ErrMalformed", err)
	}
	requirePipeEOF(t, r)

	// The stream stays in sync: the next message is intact.
	sendRaw(t, w, big)
	if err := w.SendStats(fullStats()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RecvStats(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("RecvStats = %v, want ErrMalformed", err)
	}
	if s, err := m.RecvStats(); err != nil || !reflect.DeepEqual(s, fullStats()) {
		t.Fatalf("RecvStats after oversized = %v", err)
	}
}

func TestVersionMismatch(t *testing.T) {
	m, w := pair(t)
	sendRaw(t, w, []byte{msgHello, 0, Version + 1, 0, 0, 0, 1})
	if _, err := m.RecvHello(time.Now().Add(testTimeout)); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("RecvHello = %v, want ErrVersionMismatch", err)
	}
}

func TestSendValidates(t *testing.T) {
	m, w := pair(t)
	sess, _ := udpSocket(t)
	defer sess.Close()
	bad := fullHandoff()
	bad.Op = proto.OpACK
	for _, err := range []error{
		m.SendHandoff(nil, sess),
		m.SendHandoff(fullHandoff(), nil),
		m.SendHandoff(bad, sess),
		w.SendStats(nil),
		w.SendStats(&stats.SessionStats{}),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("got %v, want ErrInvalid", err)
		}
	}
	// Nothing was sent: the next message is the first one received.
	if err := w.SendHello(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RecvHello(time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A closed session socket cannot be attached.
	if err := m.SendHandoff(fullHandoff(), sess); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if err := m.SendHandoff(fullHandoff(), sess); err == nil {
		t.Fatal("SendHandoff with a closed socket succeeded")
	}
}

func TestDeadlineAndClose(t *testing.T) {
	m, _ := pair(t)
	if _, err := m.RecvHello(time.Now().Add(-time.Second)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvHello past deadline = %v", err)
	}
	// RecvHello clears its deadline: a later receive is bounded by the one
	// we set, here one in the past set from another goroutine.
	done := make(chan error, 1)
	go func() { _, err := m.RecvStats(); done <- err }()
	m.SetReadDeadline(time.Now().Add(-time.Second))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvStats after SetReadDeadline = %v", err)
	}

	m.SetReadDeadline(time.Time{})
	go func() { _, err := m.RecvStats(); done <- err }()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("RecvStats after Close = %v, want net.ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := m.SendHello(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SendHello after Close = %v", err)
	}
	if _, _, err := m.RecvHandoff(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("RecvHandoff after Close = %v", err)
	}
	if _, err := m.RecvHello(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("RecvHello after Close = %v", err)
	}
}

func TestFromFDRejects(t *testing.T) {
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wr.Close()
	stream, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFDs(stream[:])
	udp, _ := udpSocket(t)
	defer udp.Close()
	pipeFD := dupAndClose(t, r)
	closedFD := dupFD(t, r)
	unix.Close(closedFD)
	for _, fd := range []int{-1, closedFD, pipeFD, stream[0], dupAndClose(t, udp)} {
		if _, err := FromFD(fd); !errors.Is(err, ErrNotStartedByMaster) {
			t.Errorf("FromFD(%d) = %v, want ErrNotStartedByMaster", fd, err)
		}
	}
	// Rejected descriptors are left open.
	if _, err := unix.FcntlInt(uintptr(pipeFD), unix.F_GETFD, 0); err != nil {
		t.Errorf("FromFD closed a descriptor it rejected: %v", err)
	}
	if !strings.HasPrefix(ErrNotStartedByMaster.Error(), "must be started by fbtftp-master") {
		t.Errorf("ErrNotStartedByMaster = %q", ErrNotStartedByMaster)
	}
}

// TestManyConns has a goroutine blocked in RecvStats on each of 1000 Conns,
// as a busy master does, then delivers all the stats.
func TestManyConns(t *testing.T) {
	n := 1000
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(2*n+200) {
		n = int(lim.Cur-200) / 2
		t.Logf("RLIMIT_NOFILE %d: testing %d Conns", lim.Cur, n)
	}
	masters := make([]*Conn, n)
	workers := make([]*Conn, n)
	for i := range n {
		masters[i], workers[i] = pair(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, m := range masters {
		wg.Go(func() {
			s, err := m.RecvStats()
			if err == nil && s.WorkerPID != i+1 {
				err = fmt.Errorf("conn %d got stats of %d", i, s.WorkerPID)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	for i, w := range workers {
		s := fullStats()
		s.WorkerPID = i + 1
		if err := w.SendStats(s); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// helperEnv makes the test binary act as a worker (TestWorkerProcess).
const helperEnv = "FBTFTP_IPC_TEST_WORKER"

// TestWorkerProcess is the worker side of TestExecWorker, run in a child
// process; it does nothing in a normal test run.
func TestWorkerProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process")
	}
	os.Exit(runTestWorker())
}

func runTestWorker() int {
	c, err := FromFD(WorkerFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	if err := c.SendHello(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, f, err := c.RecvHandoff()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(testTimeout))
	buf := make([]byte, 512)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := pc.WriteTo(bytes.ToUpper(buf[:n]), from); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = c.SendStats(&stats.SessionStats{
		SessionID: h.SessionID, Peer: h.Peer, Local: h.Local, Filename: h.Filename,
		Op: h.Op, Mode: h.Mode, WorkerPID: os.Getpid(), Bytes: uint64(n), Tsize: -1,
		Outcome: stats.OutcomeSuccess, Start: h.Received,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestExecWorker runs the test binary as a real worker: the socketpair end
// arrives as WorkerFD through exec.Cmd.ExtraFiles, and the session socket
// works in the child.
func TestExecWorker(t *testing.T) {
	m, wf, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.ExtraFiles = []*os.File{wf}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wf.Close() // the child has its own copy
	defer func() {
		cmd.Process.Kill() // no-op once it has exited
		cmd.Wait()
	}()
	hello, err := m.RecvHello(time.Now().Add(testTimeout))
	if err != nil || int(hello.PID) != cmd.Process.Pid {
		t.Fatalf("RecvHello = %+v, %v (stderr: %s)", hello, err, stderr.String())
	}

	sess, local := udpSocket(t)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(testTimeout))
	h := fullHandoff()
	h.Peer = client.LocalAddr().(*net.UDPAddr).AddrPort()
	h.Local = local
	h.Received = time.Now()
	err = m.SendHandoff(h, sess)
	sess.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WriteToUDPAddrPort([]byte("rrq"), local); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, from, err := client.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "RRQ" || from != local {
		t.Fatalf("client got %q from %v, %v", buf[:n], from, err)
	}

	m.SetReadDeadline(time.Now().Add(testTimeout))
	s, err := m.RecvStats()
	if err != nil {
		t.Fatalf("RecvStats = %v (stderr: %s)", err, stderr.String())
	}
	if s.WorkerPID != cmd.Process.Pid || s.Peer != h.Peer || s.Filename != h.Filename || !s.Start.Equal(h.Received) {
		t.Fatalf("stats = %+v", s)
	}
	if _, err := m.RecvStats(); err != io.EOF {
		t.Fatalf("RecvStats after exit = %v, want io.EOF", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v (stderr: %s)", err, stderr.String())
	}
}

// TestWorkerByHand runs the worker without the socketpair, as a human would.
func TestWorkerByHand(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "must be started by fbtftp-master") {
		t.Fatalf("worker run by hand: %v, output %q", err, out)
	}
}

// TestPending: Pending sees a queued message without taking it, never
// waits, and reports a closed peer as io.EOF.
func TestPending(t *testing.T) {
	m, w := pair(t)
	if ok, err := m.Pending(); ok || err != nil {
		t.Fatalf("empty: %v %v", ok, err)
	}
	if err := w.SendHello(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // peeking does not consume
		if ok, err := m.Pending(); !ok || err != nil {
			t.Fatalf("queued Hello: %v %v", ok, err)
		}
	}
	if _, err := m.RecvHello(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.Pending(); ok || err != nil {
		t.Fatalf("after the receive: %v %v", ok, err)
	}
	w.Close()
	if ok, err := m.Pending(); ok || !errors.Is(err, io.EOF) {
		t.Fatalf("peer closed: %v %v, want io.EOF", ok, err)
	}
}

// TestWorkerConfigSealed: the master's sealed copy reads back as it was
// written, cannot be changed by anyone, and anything but a sealed memfd
// is refused as "not started by the master".
func TestWorkerConfigSealed(t *testing.T) {
	want := &WorkerConfig{MapRules: []byte("r ^/(.*) \\1\n"), TemplateData: []byte(`{"default": {"a": 1}}`)}
	f, err := SealWorkerConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Error("the sealed configuration can be written")
	}
	if err := f.Truncate(0); err == nil {
		t.Error("the sealed configuration can be truncated")
	}
	dup, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadWorkerConfig(dup)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.MapRules, want.MapRules) || !bytes.Equal(got.TemplateData, want.TemplateData) {
		t.Fatalf("read %+v", got)
	}
	p := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(p, []byte(workerConfigMagic+"\x00\x00"), 0o600)
	plain, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fd, _ := unix.Dup(int(plain.Fd()))
	plain.Close()
	if _, err := ReadWorkerConfig(fd); !errors.Is(err, ErrNotStartedByMaster) {
		t.Fatalf("a plain file: %v", err)
	}
	unix.Close(fd)
}

// TestReports: Progress, Stats and OriginStats arrive through RecvReport
// in order; a Hello there is malformed; a full queue makes TrySendProgress
// return ErrWouldBlock at once.
func TestReports(t *testing.T) {
	m, w := pair(t)
	p := fullProgress()
	st := &stats.SessionStats{SessionID: "abc-1", Op: proto.OpRRQ, Tsize: -1, Outcome: stats.OutcomeSuccess, Source: stats.SourceFile}
	o := fullOrigin()
	if err := w.TrySendProgress(&p); err != nil {
		t.Fatal(err)
	}
	if err := w.SendStats(st); err != nil {
		t.Fatal(err)
	}
	if err := w.SendOriginStats(&o); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, w, []byte{msgHello, 0, 5, 0, 0, 0, 1})
	if r, err := m.RecvReport(); err != nil || r.Progress == nil || *r.Progress != p || r.Stats != nil || r.Origin != nil {
		t.Fatalf("first report %+v, %v; want the Progress", r, err)
	}
	if r, err := m.RecvReport(); err != nil || r.Stats == nil || r.Stats.SessionID != "abc-1" {
		t.Fatalf("second report %+v, %v; want the Stats", r, err)
	}
	if r, err := m.RecvReport(); err != nil || r.Origin == nil || r.Origin.Requests != o.Requests {
		t.Fatalf("third report %+v, %v; want the OriginStats", r, err)
	}
	if _, err := m.RecvReport(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a Hello as a report: %v, want ErrMalformed", err)
	}
	full := false
	for range 100_000 {
		err := w.TrySendProgress(&p)
		if errors.Is(err, ErrWouldBlock) {
			full = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("the queue never filled")
	}
	// Twice a second per session: the syscall's closure may allocate,
	// the encoding must not.
	if n := testing.AllocsPerRun(100, func() { w.TrySendProgress(&p) }); n > 2 {
		t.Errorf("TrySendProgress allocates %v times", n)
	}
}

// TestReportReady: a Ready arrives through RecvReport; one with trailing
// bytes is malformed, and EOF is io.EOF.
func TestReportReady(t *testing.T) {
	m, w := pair(t)
	if err := w.SendReady(); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, w, []byte{msgReady, 0})
	if r, err := m.RecvReport(); err != nil || !r.Ready || r.Stats != nil || r.Origin != nil || r.Progress != nil {
		t.Fatalf("ready: %+v %v", r, err)
	}
	if r, err := m.RecvReport(); !errors.Is(err, ErrMalformed) || r.Ready {
		t.Fatalf("long ready: %+v, %v; want ErrMalformed", r, err)
	}
	w.Close()
	if _, err := m.RecvReport(); err != io.EOF {
		t.Fatalf("after close: %v, want io.EOF", err)
	}
}
