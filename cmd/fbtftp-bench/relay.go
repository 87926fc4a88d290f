package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// relayCmd is "fbtftp-bench relay": a single-port relay in front of a
// server, to measure what single-port mode would cost if the master
// relayed every packet between the listening socket and the workers (the
// alternative to handing each worker a connected socket on the listening
// port; docs/benchmarks.md). It listens on -listen, starts the server
// command (with {backend} replaced by a free loopback port) and relays: each
// client address and port gets its own upstream socket; the client's
// packets go to the server's port 69 equivalent first and then to the port
// the server answered from; the server's packets go back to the client
// from the listening socket. Per packet that is one receive and one send
// more, in one more process: what a relaying master would add.
//
//	fbtftp-bench relay -listen 127.0.0.1:{port} -- fbtftp-master -L -a 127.0.0.1:{backend} ...
func relayCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "`ADDR:PORT` the relay listens on")
	if err := fs.Parse(args); err != nil || *listen == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: fbtftp-bench relay -listen ADDR:PORT -- COMMAND ARGS... ({backend}: the server's port)")
		return errUsage
	}
	la, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	argv := fs.Args()
	for i, a := range argv {
		argv[i] = strings.ReplaceAll(a, "{backend}", fmt.Sprint(port))
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	lc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(la))
	if err != nil {
		return err
	}
	defer lc.Close()
	context.AfterFunc(ctx, func() { lc.Close() })
	r := &relay{l: lc, server: netip.AddrPortFrom(la.Addr(), uint16(port)), flows: map[netip.AddrPort]*flow{}}
	return r.run()
}

type relay struct {
	l      *net.UDPConn
	server netip.AddrPort // the server's listening address
	mu     sync.Mutex
	flows  map[netip.AddrPort]*flow
}

// flow is one client address and port: its upstream socket and where the
// server answers from.
type flow struct {
	up   *net.UDPConn
	mu   sync.Mutex
	peer netip.AddrPort // the server's session port, once it answered
	last time.Time
}

func (r *relay) run() error {
	buf := make([]byte, 65536)
	for {
		n, from, err := r.l.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			continue
		}
		f := r.flow(from)
		if f == nil {
			continue
		}
		f.mu.Lock()
		to := f.peer
		f.last = time.Now()
		f.mu.Unlock()
		if !to.IsValid() || (n >= 2 && buf[1] <= 2) { // a request: to the server's port
			to = r.server
		}
		f.up.WriteToUDPAddrPort(buf[:n], to)
	}
}

// flow returns the flow of a client, starting it on its first packet.
func (r *relay) flow(client netip.AddrPort) *flow {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.flows[client]; f != nil {
		return f
	}
	up, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.server.Addr(), 0)))
	if err != nil {
		return nil
	}
	f := &flow{up: up, last: time.Now()}
	r.flows[client] = f
	go r.back(client, f)
	return f
}

// back relays the server's packets of one flow to its client, and ends the
// flow after 10 s of silence.
func (r *relay) back(client netip.AddrPort, f *flow) {
	defer func() {
		r.mu.Lock()
		delete(r.flows, client)
		r.mu.Unlock()
		f.up.Close()
	}()
	buf := make([]byte, 65536)
	for {
		f.up.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := f.up.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.peer = from
		f.mu.Unlock()
		if _, err := r.l.WriteToUDPAddrPort(buf[:n], client); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
