package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/lossnet"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// runningServer is a server under test started by the harness.
type runningServer struct {
	spec serverSpec
	net  *lossnet.Net // the lossy link it serves on, nil for loopback
	cg   *cpuGroup    // its cgroup, for CPU accounting; nil: /proc (reaped children only)
	addr netip.AddrPort
	proc *testenv.Process // its own process group, its output kept
}

// do runs fn where the server's clients are: here, or in the lossy link's
// client namespace.
func (s *runningServer) do(fn func() error) error {
	if s.net == nil {
		return fn()
	}
	return s.net.Do(s.net.Client, fn)
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago, for
// a server whose command names {port} (another process may take it before
// the server binds it: startServer retries).
func freePort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// startServer starts spec serving root and waits until it answers a
// download of probeFile. A port taken in the meantime is retried. With a
// lossy link ln, the server runs in its server namespace on
// lossnet.ServerAddr (the template must listen on {addr}).
func startServer(ctx context.Context, spec serverSpec, ln *lossnet.Net, root, probeFile string) (*runningServer, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var s *runningServer
		s, err = startOnce(ctx, spec, ln, root, probeFile)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func startOnce(ctx context.Context, spec serverSpec, ln *lossnet.Net, root, probeFile string) (*runningServer, error) {
	ip := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if ln != nil {
		ip = lossnet.ServerAddr
	}
	// Without {port} the server gets a socket bound here on its standard
	// input (inetd mode): no port to race for.
	var sock *os.File
	var addr netip.AddrPort
	port := 0
	if strings.Contains(spec.Template, "{port}") {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port, addr = p, netip.AddrPortFrom(ip, uint16(p))
	} else {
		bind := func() (err error) {
			sock, addr, err = testenv.BoundSocket(ip)
			return err
		}
		var err error
		if ln != nil {
			err = ln.Do(ln.Server, bind)
		} else {
			err = bind()
		}
		if err != nil {
			return nil, err
		}
		defer sock.Close() // the server has its own copy
	}
	argv, err := expand(spec.Template, ip, port, root)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if ln != nil {
		// ip netns exec execs the server: the pid is the server's.
		cmd = exec.Command("ip", append([]string{"netns", "exec", ln.Server}, argv...)...)
	}
	if sock != nil {
		cmd.Stdin = sock
	}
	s := &runningServer{spec: spec, net: ln, addr: addr}
	if cg, err := newCPUGroup(spec.Name); err == nil {
		s.cg = cg
		cg.start(cmd)
	}
	if s.proc, err = testenv.StartProcess(cmd); err != nil {
		if s.cg != nil {
			s.cg.remove()
		}
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	if err := s.probe(ctx, probeFile); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s (%q) did not come up: %w; output: %s", spec.Name, argv, err, tailOf(s.proc.Output()))
	}
	return s, nil
}

// tailOf is the end of a server's output, for errors.
func tailOf(out string) string {
	if len(out) > 4096 {
		return out[len(out)-4096:]
	}
	return out
}

// probe downloads file until it works (the server is ready), the process
// exits, or about 10 s have passed.
func (s *runningServer) probe(ctx context.Context, file string) error {
	var err error
	for range 100 {
		select {
		case <-s.proc.Done():
			return fmt.Errorf("exited: %v", s.proc.Err())
		default:
		}
		err = s.do(func() error {
			_, err := client.Get(ctx, s.addr, file, client.Options{Timeout: 100 * time.Millisecond, Retries: -1}, io.Discard)
			return err
		})
		var se *tftp.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se):
			return err // up, but it cannot serve the root
		case ctx.Err() != nil:
			return ctx.Err()
		}
	}
	return err
}

// stop ends the server and its whole process group (SIGTERM, then SIGKILL
// after 3 s), reaps it and removes its cgroup.
func (s *runningServer) stop() {
	s.proc.Stop()
	if s.cg != nil {
		s.cg.remove()
	}
}

// cpu returns the CPU time the server has used so far and its number of
// live processes: from its cgroup, or else from /proc (the process tree,
// with the children it has reaped).
func (s *runningServer) cpu() (time.Duration, int, error) {
	if s.cg != nil {
		u, err := s.cg.usage()
		return u, s.cg.procs(), err
	}
	return treeCPU(s.pid())
}

// pid returns the server's process id (the root of its process tree).
func (s *runningServer) pid() int { return s.proc.Cmd.Process.Pid }
