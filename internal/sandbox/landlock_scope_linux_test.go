package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLandlockScopes runs two confined helpers as two workers would be:
// one that only waits, and one that tries to signal the test process (its
// parent, outside any domain), the other helper (another domain), and
// itself, and to connect to an abstract unix socket the test process
// listens on. With Landlock ABI 6 only the signal to itself gets through;
// on an older kernel everything does (the scopes are left out silently).
func TestLandlockScopes(t *testing.T) {
	switch os.Getenv("FBTFTP_SCOPE_HELPER") {
	case "wait":
		scopeWaiter()
		return
	case "try":
		scopeTrier()
		return
	}
	abi := landlockABI()
	if abi == 0 {
		t.Skip("the kernel has no Landlock")
	}
	ln, err := net.Listen("unix", "@fbtftp-scope-test-"+strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	helper := func(mode string, extra ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLandlockScopes$")
		cmd.Env = append(os.Environ(), append((Spec{Landlock: true}).Env(), append(extra, "FBTFTP_SCOPE_HELPER="+mode)...)...)
		cmd.Stderr = os.Stderr
		return cmd
	}
	waiter := helper("wait")
	stdin, _ := waiter.StdinPipe()
	wout, _ := waiter.StdoutPipe()
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); waiter.Wait() }()
	if line, err := bufio.NewReader(wout).ReadString('\n'); err != nil || line != "confined\n" {
		t.Fatalf("waiter: %q, %v", line, err)
	}
	try := helper("try", "FBTFTP_SCOPE_OTHER="+strconv.Itoa(waiter.Process.Pid), "FBTFTP_SCOPE_SOCKET="+ln.Addr().String())
	var out bytes.Buffer
	try.Stdout = &out
	if err := try.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	want := []string{"signal parent: denied", "signal other worker: denied", "signal self: ok", "connect abstract socket: denied"}
	if abi < landlockScopeABI {
		want = []string{"signal parent: ok", "signal other worker: ok", "signal self: ok", "connect abstract socket: ok"}
		t.Logf("Landlock ABI %d < %d: scopes not enforced, as designed", abi, landlockScopeABI)
	}
	if got := strings.TrimSpace(out.String()); got != strings.Join(want, "\n") {
		t.Fatalf("helper reported:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// confine applies the spec from the environment or exits.
func confine() {
	s, err := FromEnv(os.Getenv)
	if err == nil {
		_, err = Apply(s)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

// scopeWaiter confines itself, says so and waits for its stdin to close.
func scopeWaiter() {
	confine()
	fmt.Println("confined")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// scopeTrier confines itself and reports what it can reach.
func scopeTrier() {
	confine()
	report := func(what string, err error) {
		if err != nil {
			fmt.Printf("%s: denied\n", what)
		} else {
			fmt.Printf("%s: ok\n", what)
		}
	}
	other, _ := strconv.Atoi(os.Getenv("FBTFTP_SCOPE_OTHER"))
	report("signal parent", unix.Kill(os.Getppid(), 0))
	report("signal other worker", unix.Kill(other, 0))
	report("signal self", unix.Kill(os.Getpid(), syscall.Signal(0)))
	c, err := net.Dial("unix", os.Getenv("FBTFTP_SCOPE_SOCKET"))
	if err == nil {
		c.Close()
	}
	report("connect abstract socket", err)
	os.Exit(0)
}
