package upgrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envChild makes the test binary a child of Start (the helper-process
// pattern): its value says how it behaves.
const envChild = "UPGRADE_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode, ok := os.LookupEnv(envChild); ok {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child is the test binary started by Start.
func child(mode string) int {
	switch mode {
	case "exit":
		return 3
	case "hang":
		time.Sleep(time.Hour)
		return 1
	case "junk":
		os.NewFile(ctlFD, "ctl").Write(appendMsg(nil, 'X', nil))
		time.Sleep(time.Hour)
		return 1
	}
	h, err := Inherit()
	if err != nil || h == nil {
		fmt.Fprintln(os.Stderr, "inherit:", err)
		return 10
	}
	if os.Getenv(EnvHandover) != "" {
		return 11
	}
	if h.Parent != os.Getppid() {
		return 12
	}
	fs := h.Take("udp")
	if len(fs) != 1 || len(h.Take("udp")) != 0 {
		return 13
	}
	pc, err := net.FilePacketConn(fs[0])
	fs[0].Close()
	if err != nil {
		return 14
	}
	states := make(chan []byte, 8)
	if err := h.Ready("9.9.9", func(p []byte) { states <- bytes.Clone(p) }); err != nil {
		return 15
	}
	// Echo one datagram read from the inherited socket, with the state
	// the parent committed.
	<-h.Committed()
	state := <-states
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return 16
	}
	pc.WriteTo(append(append(state, ':'), buf[:n]...), from)
	next := <-states // an 'S'
	pc.WriteTo(next, from)
	<-h.ParentGone()
	if h.Err() != nil {
		return 17
	}
	h.Close()
	return 0
}

// config starts the test binary as a child in mode.
func config(mode string, files ...File) Config {
	exe, _ := os.Executable()
	return Config{
		Path: exe, Args: []string{"upgrade-child"}, Env: append(os.Environ(), envChild+"="+mode),
		Files: files, Timeout: 10 * time.Second,
	}
}

func nonblocking(t *testing.T, c syscall.Conn) bool {
	t.Helper()
	rc, _ := c.SyscallConn()
	var fl int
	rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	return fl&unix.O_NONBLOCK != 0
}

// TestHandover: the child serves the very socket the parent had (a
// datagram sent to its address reaches the child), gets the committed
// state and later ones, and sees its parent gone when the channel
// closes. The parent's socket stays non-blocking.
func TestHandover(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := Start(context.Background(), config("serve", File{Name: "udp", Conn: pc}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "9.9.9" {
		t.Errorf("version %q", c.Version)
	}
	if !nonblocking(t, pc) {
		t.Error("the parent's socket became blocking")
	}
	pc.Close() // the parent stops; the socket lives on in the child
	cl, err := net.DialUDP("udp4", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := c.Commit([]byte("state1")); err != nil {
		t.Fatal(err)
	}
	cl.Write([]byte("ping"))
	cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, err := cl.Read(buf)
	if err != nil || string(buf[:n]) != "state1:ping" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
	if err := c.Send([]byte("state2")); err != nil {
		t.Fatal(err)
	}
	if n, err = cl.Read(buf); err != nil || string(buf[:n]) != "state2" {
		t.Fatalf("second state %q, %v", buf[:n], err)
	}
	c.Close()
	select {
	case <-c.Exited():
		if c.status != "exit status 0" {
			t.Errorf("child: %s", c.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not see its parent gone")
	}
}

// TestStartFailures: a child that exits, hangs past the timeout, breaks
// the protocol or cannot start leaves an error, and no child behind.
func TestStartFailures(t *testing.T) {
	for _, tc := range []struct {
		mode, want string
		cfg        func(*Config)
	}{
		{"exit", "exit status 3", nil}, // seen as its exit or as the closed channel
		{"hang", "not ready after 200ms: killed", func(c *Config) { c.Timeout = 200 * time.Millisecond }},
		{"junk", "bad control message", nil},
		{"missing", "no such file", func(c *Config) { c.Path = filepath.Join(t.TempDir(), "none") }},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := config(tc.mode)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			var pid int
			cfg.Track = func(start func() int) { pid = start() }
			untracked := make(chan int, 1)
			cfg.Untrack = func(p int) { untracked <- p }
			c, err := Start(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, %v; want an error with %q", c, err, tc.want)
			}
			if tc.mode == "missing" {
				return
			}
			if p := <-untracked; p != pid {
				t.Errorf("untracked %d, started %d", p, pid)
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("child %d still there (or a zombie): %v", pid, err)
			}
		})
	}
}

// TestStartCanceled: ctx ending while the child starts kills it.
func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config("hang")
	cfg.Track = func(start func() int) {
		start()
		cancel()
	}
	if _, err := Start(ctx, cfg); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Start: %v", err)
	}
}

func TestSpec(t *testing.T) {
	s := &spec{parent: 42, ctl: 3, files: map[string][]int{"udp": {4, 5}, "metrics": {6}}, order: []string{"udp", "metrics"}}
	v := s.format()
	if v != "1 parent=42 ctl=3 udp=4,5 metrics=6" {
		t.Fatalf("format %q", v)
	}
	got, err := parseSpec(v)
	if err != nil || got.format() != v {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{
		"", "2 parent=1 ctl=3", "1 parent=0 ctl=3", "1 parent=1 ctl=2", "1 ctl=3 parent=1",
		"1 parent=1 ctl=3 udp=3", "1 parent=1 ctl=3 udp=4 udp=5", "1 parent=1 ctl=3 UDP=4",
		"1 parent=1 ctl=3 udp=", "1 parent=1 ctl=3 udp=04", "1 parent=1 ctl=3 udp=4,,5", "1 parent=1 ctl=3 ctl=4",
		"1 parent=1 ctl=3 udp=99999",
	} {
		if _, err := parseSpec(bad); err == nil {
			t.Errorf("parseSpec(%q) accepted", bad)
		}
	}
}

func TestMessages(t *testing.T) {
	b := appendMsg(nil, msgState, []byte("abc"))
	typ, p, err := readMsg(bytes.NewReader(b), 10)
	if err != nil || typ != msgState || string(p) != "abc" {
		t.Fatalf("%q %q %v", typ, p, err)
	}
	if _, _, err := readMsg(bytes.NewReader(b), 2); !errors.Is(err, errBadMessage) {
		t.Errorf("over the limit: %v", err)
	}
	if _, _, err := readMsg(bytes.NewReader(b[:6]), 10); !errors.Is(err, errBadMessage) {
		t.Errorf("cut: %v", err)
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add("1 parent=42 ctl=3 udp=4,5 metrics=6")
	f.Add("1 parent=1 ctl=3")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := parseSpec(v)
		if err != nil {
			return
		}
		again, err := parseSpec(s.format())
		if err != nil || again.format() != s.format() {
			t.Fatalf("round trip of %q: %q, %v", v, s.format(), err)
		}
	})
}

func FuzzReadMsg(f *testing.F) {
	f.Add(appendMsg(nil, msgCommit, []byte("state")))
	f.Add([]byte{msgReady, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, p, err := readMsg(bytes.NewReader(b), 64)
		if err != nil {
			return
		}
		if !bytes.Equal(appendMsg(nil, typ, p), b[:5+len(p)]) {
			t.Fatalf("%q does not encode back", b)
		}
	})
}
