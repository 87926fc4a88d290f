package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// runningServer is a server under test started by the harness.
type runningServer struct {
	spec   serverSpec
	addr   netip.AddrPort
	cmd    *exec.Cmd
	output *tail
	done   chan struct{} // closed when the process has exited and been reaped
	err    error         // Wait's result, valid after done
}

// tail keeps the last bytes written to it (the server's output, for errors).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// startServer starts spec serving root and waits until it answers a
// download of probeFile. A port taken in the meantime is retried.
func startServer(ctx context.Context, spec serverSpec, root, probeFile string) (*runningServer, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var s *runningServer
		s, err = startOnce(ctx, spec, root, probeFile)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func startOnce(ctx context.Context, spec serverSpec, root, probeFile string) (*runningServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv, err := expand(spec.Template, port, root)
	if err != nil {
		return nil, err
	}
	s := &runningServer{
		spec:   spec,
		addr:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)),
		cmd:    exec.Command(argv[0], argv[1:]...),
		output: &tail{},
		done:   make(chan struct{}),
	}
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	ownGroup(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	if err := s.probe(ctx, probeFile); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s (%q) did not come up: %w; output: %s", spec.Name, argv, err, s.output.String())
	}
	return s, nil
}

// probe downloads file until it works (the server is ready), the process
// exits, or about 10 s have passed.
func (s *runningServer) probe(ctx context.Context, file string) error {
	var err error
	for range 100 {
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.err)
		default:
		}
		_, err = client.Get(ctx, s.addr, file, client.Options{Timeout: 100 * time.Millisecond, Retries: -1}, io.Discard)
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

// stop ends the server's whole process group: SIGTERM, then SIGKILL after
// 3 s, and reaps the server.
func (s *runningServer) stop() {
	signalGroup(s.cmd, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
	}
	signalGroup(s.cmd, syscall.SIGKILL) // leftover transfer processes too
	<-s.done
}

// pid returns the server's process id (the root of its process tree).
func (s *runningServer) pid() int { return s.cmd.Process.Pid }
