// Command fbtftp-master is the fbtftp-go server: a root daemon that reads
// TFTP requests and hands each session to its own worker process. Its
// command line is tftpd-hpa's in.tftpd's (see docs/compatibility.md), so it
// can be installed as /usr/sbin/in.tftpd and started by the same init
// scripts, inetd/xinetd entries and systemd units.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/logging"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sdnotify"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/upgrade"
	"github.com/fbtftp-go/fbtftp/server"
)

// minIdle is the shortest idle timeout: -t 0 (in.tftpd: serve what is
// queued, then exit) still gives queued requests time to be read.
const minIdle = 100 * time.Millisecond

func main() {
	os.Exit(realMain(os.Args[1:]))
}

// realMain runs the program and returns its exit status. The program name
// (argv[0]'s base name, "in.tftpd" when installed as such) only names the
// logs and messages; it changes nothing else.
func realMain(args []string) int {
	prog := filepath.Base(os.Args[0])
	o, err := parseArgs(args)
	switch {
	case o.version:
		fmt.Println(versionString())
		return 0
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\nTry '%s --help' for more information.\n", prog, err, prog)
		return exUsage
	case o.help:
		fmt.Print(usage(prog))
		return 0
	case o.mapTest != "":
		return mapTest(prog, o)
	}
	// What SIGUSR2 starts again, recorded before anything changes the
	// working directory.
	self := upgrade.Here()
	ho, err := server.TakeHandover()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return exOSErr
	}
	ready := takeReadiness()
	if o.listen && !o.foreground && ready == nil && ho == nil {
		return daemonize(args)
	}
	closeInheritedOnExec()
	nfds := listenFDs()
	var md mode
	if ho != nil {
		md = handoverMode(o)
	} else if md, err = chooseMode(o, nfds); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return exitCode(err)
	}
	// A datagram socket as standard output or error is inetd's (or
	// systemd's StandardInput=socket) request socket: useless for logs, and
	// no worker may inherit it.
	var sink *logSink
	if isDatagramSocket(2) {
		sink = redirectStdio(prog)
	} else if isDatagramSocket(1) {
		nullStdout()
	}
	defer sink.close()
	log := logging.New(prog, o.logFormat, o.verbosity)
	defer log.Sync()
	return serve(prog, o, launch{md: md, nfds: nfds, ready: ready, handover: ho, self: self, notify: sdnotify.TakeEnv()}, log)
}

// launch is how this process was started.
type launch struct {
	md       mode
	nfds     int              // sockets systemd passed
	ready    *readiness       // the daemonizing parent waiting, or nil
	handover *server.Handover // the sockets of the master this one takes over from, or nil
	self     upgrade.Program  // what SIGUSR2 starts
	notify   sdnotify.Socket  // systemd's notification socket, or none
}

// daemon reports whether the process runs as in.tftpd -l's daemon: started
// by daemonize, or by a daemon's upgrade.
func (l launch) daemon(o *options) bool {
	return l.ready != nil || l.handover != nil && o.listen && !o.foreground
}

// serve runs the server for mode md until a signal (or the idle timeout)
// ends it. It returns the exit status.
func serve(prog string, o *options, ln launch, log *zap.Logger) int {
	md, ready := ln.md, ln.ready
	fail := func(err error) int {
		log.Error("cannot start", zap.Error(err))
		if ln.handover == nil { // after an upgrade the old master is the main process
			ln.notify.Send("STATUS=cannot start: " + err.Error())
		}
		return exitCode(err)
	}
	s := o.server(log)
	switch {
	case ln.handover != nil:
		s.Addrs = nil
		s.Handover = ln.handover
	case md == modeStandalone:
	case md == modeSystemd:
		s.Addrs = nil
		files, err := passedSockets(o, listenFDsStart, ln.nfds)
		if err != nil {
			return fail(err)
		}
		s.Listeners = files
	case md == modeInetd:
		s.Addrs = nil
		f, err := inetdSocket()
		if err != nil {
			return fail(err)
		}
		s.Listeners = []*os.File{f}
	}
	// -t: inetd mode's idle exit. in.tftpd 5.2 ignores it in standalone
	// mode; with systemd's sockets it applies when given.
	if md == modeInetd || md == modeSystemd && o.idleSet {
		s.IdleTimeout = max(o.idle, minIdle)
	}
	// Installed before readiness: a signal right after it must find them.
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()

	var pidFile string
	var sink *logSink
	defer func() { sink.close() }()
	s.Listening = func(addrs []string) {
		if o.pidFile != "" {
			if md == modeInetd {
				log.Warn("not in standalone mode, ignoring pid file", zap.String("pidfile", o.pidFile))
			} else if p, err := filepath.Abs(o.pidFile); err != nil || writePidFile(p) != nil {
				log.Error("cannot write pid file", zap.String("pidfile", o.pidFile))
			} else {
				pidFile = p
			}
		}
		for _, a := range addrs {
			log.Info("listening", zap.String("address", a), zap.Stringer("mode", md))
		}
		if ln.handover == nil {
			// Type=notify. After an upgrade the old master tells systemd
			// (MAINPID): this one is not the main process yet, and
			// NotifyAccess=main would refuse it.
			if err := ln.notify.Send("READY=1", "STATUS=serving"); err != nil {
				log.Warn("cannot notify the service manager", zap.String("socket", string(ln.notify)), zap.Error(err))
			}
		}
		if ln.daemon(o) {
			os.Chdir("/") // as daemon(3); every path is absolute by now
			ready.done()
			// daemon(3): nothing of the caller's terminal or pipes stays
			// open, or a caller capturing them (x=$(in.tftpd -l ...)) would
			// wait for this process to exit. Logs go to syslog.
			if !o.stderr {
				log.Sync()
				sink = redirectStdio(prog)
			}
		}
	}
	hupDone := make(chan struct{})
	go func() { // ends with ctx, waited for below
		defer close(hupDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if md == modeInetd {
				// in.tftpd returns to inetd on SIGHUP.
				log.Info("SIGHUP in inetd mode: exiting")
				cancel()
				return
			}
			// A bad file keeps the configuration in force (in.tftpd exits):
			// the server logs and counts it.
			s.Reload()
		}
	}()
	upgraded := make(chan int, 1) // the new master's pid
	usr2Done := make(chan struct{})
	go func() { // ends with ctx, waited for below
		defer close(usr2Done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr2:
			}
			if pid, ok := upgradeOnSignal(ctx, s, o, ln, log); ok {
				upgraded <- pid
				return
			}
		}
	}()
	err := s.Run(ctx)
	cancel()
	<-hupDone
	<-usr2Done
	handedOver := len(upgraded) > 0
	if pidFile != "" && !handedOver {
		removePidFile(pidFile)
	}
	if !handedOver {
		ln.notify.Send("STOPPING=1")
	}
	if err != nil {
		if server.KindOf(err) != 0 {
			return fail(err)
		}
		log.Error("exiting", zap.Error(err))
		return 1
	}
	return 0
}

// inetdSocket is the socket on standard input, duplicated; descriptor 0
// is then pointed at /dev/null.
func inetdSocket() (*os.File, error) {
	if !isDatagramSocket(0) {
		return nil, exitf(exIOErr, "inetd mode: standard input is not a UDP socket (give -l or -L to run standalone)")
	}
	fd, err := syscall.Dup(0)
	if err != nil {
		return nil, exitf(exIOErr, "inetd mode: %v", err)
	}
	syscall.CloseOnExec(fd)
	if null, err := os.Open(os.DevNull); err == nil {
		redirectFD(null, 0)
		null.Close()
	}
	return os.NewFile(uintptr(fd), "stdin socket"), nil
}

// nullStdout points fd 1 at /dev/null.
func nullStdout() {
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		redirectFD(null, 1)
		null.Close()
	}
}

// mapTest is --map-test FILE: apply the rules to each file name read from
// standard input, as a read request from 127.0.0.1 (::1 with -6), print
// "name -> result" lines and exit.
func mapTest(prog string, o *options) int {
	if _, err := checkMapFile(o.mapTest); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return exitCode(err)
	}
	rules, err := remap.ParseFile(o.mapTest)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return exConfig
	}
	client := netip.MustParseAddr("127.0.0.1")
	if o.family == udp.IPv6Only {
		client = netip.IPv6Loopback()
	}
	if err := remap.RunTest(rules, os.Stdin, os.Stdout, client, false); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return exIOErr
	}
	return 0
}
