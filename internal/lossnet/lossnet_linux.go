package lossnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// namePrefix starts the names of every namespace this package creates:
// "fbtl-PID-N-srv" and "fbtl-PID-N-cli", so that leftovers of a process
// that died before its Close can be found and removed.
const namePrefix = "fbtl-"

// cmdTimeout bounds each ip or nft command.
const cmdTimeout = 10 * time.Second

var seq atomic.Int64

// Net is a server namespace and a client namespace joined by a veth pair,
// with loss rules in both. Its methods are safe for concurrent use, except
// Close.
type Net struct {
	Server, Client string // the namespaces' names (ip netns)
}

// Available reports nil when New can work here, or an error wrapping
// ErrUnavailable that says what is missing.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root", ErrUnavailable)
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%w: no %s command in PATH", ErrUnavailable, c)
		}
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("%w: no network namespaces: %v", ErrUnavailable, err)
	}
	return nil
}

// New creates the two namespaces, the veth pair (ServerAddr/24 in Server,
// ClientAddr/24 in Client, MTU 1500) and loss rules dropping nothing. It
// first removes the namespaces of lossnet users that have died. The
// caller must Close the Net, also when New's caller fails later.
func New(ctx context.Context) (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	Sweep(ctx, namePrefix)
	id := fmt.Sprintf("%d-%d", os.Getpid(), seq.Add(1))
	n := &Net{Server: namePrefix + id + "-srv", Client: namePrefix + id + "-cli"}
	// Interface names are at most 15 bytes: the link is known by its
	// namespaces, so short fixed names do.
	steps := [][]string{
		{"netns", "add", n.Server},
		{"netns", "add", n.Client},
		{"-n", n.Server, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", n.Client},
		{"-n", n.Server, "addr", "add", ServerAddr.String() + "/24", "dev", "veth0"},
		{"-n", n.Client, "addr", "add", ClientAddr.String() + "/24", "dev", "veth1"},
		{"-n", n.Server, "link", "set", "veth0", "gso_max_segs", "1", "up"},
		{"-n", n.Client, "link", "set", "veth1", "gso_max_segs", "1", "up"},
		{"-n", n.Server, "link", "set", "lo", "up"},
		{"-n", n.Client, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if _, err := Run(ctx, nil, "ip", args...); err != nil {
			n.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	if err := n.SetLoss(ctx, 0); err != nil {
		n.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return n, nil
}

// ns returns the namespace whose input the side's packets arrive at.
func (n *Net) ns(s Side) string {
	if s == ToServer {
		return n.Server
	}
	return n.Client
}

// SetLoss replaces the loss rules: from now on each UDP datagram arriving
// in either namespace is dropped with probability rate (0 to 1, resolution
// one in a million), independently of the others (nftables numgen random).
// The drop counters restart from 0.
func (n *Net) SetLoss(ctx context.Context, rate float64) error {
	if rate < 0 || rate > 1 || rate != rate {
		return fmt.Errorf("lossnet: loss rate %v outside 0..1", rate)
	}
	ppm := int(rate*1e6 + 0.5)
	// Deleting and re-adding the table in one transaction is atomic and
	// resets the counter; "add table" first makes the delete valid on the
	// first call.
	script := fmt.Sprintf(`add table inet lossnet
delete table inet lossnet
table inet lossnet {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto udp numgen random mod 1000000 < %d counter drop
	}
}
`, ppm)
	for _, s := range []Side{ToServer, ToClient} {
		if _, err := Run(ctx, []byte(script), "ip", "netns", "exec", n.ns(s), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

var counterRE = regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`)

// Drops returns how many datagrams the rules dropped on side s since the
// last SetLoss.
func (n *Net) Drops(ctx context.Context, s Side) (uint64, error) {
	out, err := Run(ctx, nil, "ip", "netns", "exec", n.ns(s), "nft", "list", "chain", "inet", "lossnet", "input")
	if err != nil {
		return 0, err
	}
	m := counterRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("lossnet: no drop counter in %q", out)
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}

// Command returns a command that runs name with args in namespace ns
// (n.Server or n.Client), through "ip netns exec", which execs it: the
// process's pid is the command's.
func (n *Net) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs fn in namespace ns (InNamespace).
func (n *Net) Do(ns string, fn func() error) error { return InNamespace(ns, fn) }

// InNamespace runs fn on an OS thread that has joined the named network
// namespace ns: the sockets fn creates belong to that namespace (and keep
// working from any goroutine afterwards). The thread is never returned to
// the Go scheduler: it exits with fn's goroutine. It is shared with the
// other namespace harnesses of the tests (test/testenv).
func InNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread is in another namespace now, and
		// the runtime ends a locked thread when its goroutine exits.
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("lossnet: setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Close deletes the namespaces, which removes the veth pair and the rules
// with them. It is safe to call more than once.
func (n *Net) Close() error {
	return DeleteNamespaces(n.Server, n.Client)
}

// DeleteNamespaces deletes the named network namespaces that exist, with
// their links and rules (a namespace already gone is not an error). It is
// shared with the other namespace harnesses of the tests (test/testenv).
func DeleteNamespaces(names ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var errs []error
	for _, ns := range names {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if _, err := Run(ctx, nil, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep removes the namespaces named prefix + "<pid>-..." whose process
// is no longer alive (a test binary killed by its timeout does not run
// its cleanups).
func Sweep(ctx context.Context, prefix string) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_, _ = Run(ctx, nil, "ip", "netns", "del", e.Name())
		}
	}
}

// Run runs a command with stdin, bounded by cmdTimeout, and returns its
// standard output; the error carries the command line and its stderr.
func Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}
