// Package server is the master side of fbtftp-go for Go programs that
// replace fbtftp-master (fbtftp's BaseServer and its two statistics
// callbacks). It lives apart from package fbtftp so that workers, which
// import fbtftp and start once per session, do not link the master, zap
// and net/http.
package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// ServerStats are server-wide counters, handed to Server.ServerStats every
// StatsInterval. Counters cover the interval since the previous call (they
// are read and reset atomically); gauges are current values.
type ServerStats struct {
	Start    time.Time     // when the server started
	Uptime   time.Duration // since Start
	Interval time.Duration // covered by the counters below

	Requests, Accepted, Malformed, Rejected, Busy, Duplicates uint64
	Sessions                                                  map[tftp.Outcome]uint64
	BytesSent, BytesReceived, Retransmits, ErrorsSent         uint64
	WorkerSpawns, WorkerSpawnFailures, WorkerCrashes          uint64

	SessionsActive, LiveWorkers, IdleWorkers int64
}

// Server is the master side of fbtftp-go for a Go program that replaces
// fbtftp-master (fbtftp's BaseServer): it listens, hands each session to a
// worker process and reports statistics through two callbacks, as fbtftp's
// session and server stats callbacks do. The zero value of every optional
// field works.
type Server struct {
	// Addr is the listen address, in.tftpd style "[addr][:port]"
	// (IPv6 in brackets); empty means every address on port 69.
	Addr string
	// Root is the directory workers serve (Settings.Roots). When the
	// process runs as root, workers chroot into it and run as User.
	Root string
	// User is the unprivileged user of the workers; default "nobody".
	User string
	// WorkerPath is the worker binary; default fbtftp-worker next to the
	// running program. WorkerArgs are its arguments.
	WorkerPath string
	WorkerArgs []string
	// Settings travel to every worker (timeouts, limits, flags, Extra).
	// Roots is filled from Root.
	Settings fbtftp.Settings
	// Prefork, MaxWorkers and DrainTimeout: see fbtftp-master's flags.
	Prefork      int
	MaxWorkers   int
	DrainTimeout time.Duration
	// MaxSessionsPerClient bounds the sessions of one client address (an
	// IPv6 client counts by its /64): 0 means 8, a negative value no
	// limit (--max-sessions-per-client).
	MaxSessionsPerClient int
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger

	// SessionStats is called after every session, with its full stats.
	SessionStats func(*tftp.SessionStats)
	// ServerStats is called every StatsInterval (default 60 s) and once
	// more when the server stops.
	ServerStats   func(*ServerStats)
	StatsInterval time.Duration

	// Listening, when set, is called with the bound addresses once the
	// server listens (useful with port 0).
	Listening func(addrs []string)

	// Where the kernel has Landlock, workers may open files only beneath
	// Root (read-only: this server takes no uploads) and WritableDirs
	// (read and write, for example an HTTP cache), even outside a chroot.
	// NoLandlock turns that off, for workers that read other files during
	// a session (read them before fbtftp.ServeWorker instead).
	WritableDirs []string
	NoLandlock   bool
}

// Run serves until ctx ends, then drains running sessions (DrainTimeout)
// and returns. A panic in a callback is recovered and logged.
func (s *Server) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if s.Root == "" {
		return errors.New("fbtftp: Server.Root is required")
	}
	root, err := filepath.Abs(s.Root)
	if err != nil {
		return err
	}
	worker := s.WorkerPath
	if worker == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		worker = filepath.Join(filepath.Dir(exe), "fbtftp-worker")
	}
	user := s.User
	if user == "" {
		user = "nobody"
	}
	spec, privileged, err := sandbox.ForUser(user, root)
	if err != nil {
		return err
	}
	if !s.NoLandlock {
		spec.Landlock, spec.FSRead, spec.FSWrite = true, []string{root}, s.WritableDirs
	}
	settings := wireSettings(&s.Settings)
	settings.Roots = []string{root}
	if privileged {
		settings.Roots = []string{"/"}
		settings.Flags |= ipc.FlagSecure
	}
	lspec, err := udp.ParseListenAddress(s.Addr, udp.DefaultPort)
	if err != nil {
		return err
	}
	ls, err := udp.Listen(lspec, udp.AnyFamily)
	if err != nil {
		return err
	}
	counters := &master.ServerCounters{}
	m, err := master.New(master.Config{
		Listeners: ls, WorkerPath: worker, WorkerArgs: s.WorkerArgs, Sandbox: spec, Settings: settings,
		Prefork: s.Prefork, MaxWorkers: s.MaxWorkers, MaxSessionsPerClient: s.MaxSessionsPerClient, DrainTimeout: s.DrainTimeout,
		Logger: log, Observer: counters,
		OnSession: s.SessionStats,
	})
	if err != nil {
		for _, l := range ls {
			l.Close()
		}
		return err
	}
	if s.Listening != nil {
		var addrs []string
		for _, l := range ls {
			addrs = append(addrs, l.LocalAddr().String())
		}
		safely(log, "listening callback", func() { s.Listening(addrs) })
	}
	done := make(chan struct{})
	reporterDone := make(chan struct{})
	go func() {
		defer close(reporterDone)
		s.reportServerStats(log, m, counters, done)
	}()
	err = m.Run(ctx)
	close(done)
	<-reporterDone
	return err
}

// reportServerStats calls ServerStats every interval until done, and once
// at the end.
func (s *Server) reportServerStats(log *zap.Logger, m *master.Master, c *master.ServerCounters, done <-chan struct{}) {
	if s.ServerStats == nil {
		return
	}
	interval := s.StatsInterval
	if interval <= 0 {
		interval = time.Minute
	}
	start := time.Now()
	last := start
	report := func() {
		now := time.Now()
		t := c.Take(true)
		g := m.Counters()
		st := &ServerStats{
			Start: start, Uptime: now.Sub(start), Interval: now.Sub(last),
			Requests: t.Requests, Accepted: t.Accepted, Malformed: t.Malformed, Rejected: t.Rejected,
			Busy: t.Busy, Duplicates: t.Duplicates, Sessions: t.Sessions,
			BytesSent: t.BytesSent, BytesReceived: t.BytesReceived, Retransmits: t.Retransmits,
			ErrorsSent: t.ErrorsSent, WorkerSpawns: t.WorkerSpawns, WorkerSpawnFailures: t.WorkerSpawnFailures,
			WorkerCrashes:  t.WorkerCrashes,
			SessionsActive: g.Inflight, LiveWorkers: g.LiveWorkers, IdleWorkers: g.IdleWorkers,
		}
		last = now
		safely(log, "server stats callback", func() { s.ServerStats(st) })
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			report()
		case <-done:
			report()
			return
		}
	}
}

// safely runs a user callback, logging instead of dying on a panic.
func safely(log *zap.Logger, what string, f func()) {
	defer func() {
		if p := recover(); p != nil {
			log.Error(what+" panicked", zap.String("panic", fmt.Sprint(p)))
		}
	}()
	f()
}

// wireSettings is the part of s a Handoff carries.
func wireSettings(s *fbtftp.Settings) ipc.Settings {
	w := ipc.Settings{
		Timeout:         s.Timeout,
		Retries:         s.Retries,
		MaxBlksize:      s.MaxBlksize,
		MaxWindowsize:   s.MaxWindowsize,
		Refuse:          s.Refuse,
		SessionDeadline: s.SessionDeadline,
		Umask:           uint32(s.Umask.Perm()),
		MaxUpload:       s.MaxUpload,
		Roots:           s.Roots,
		Verbosity:       s.Verbosity,
		LogFormat:       s.LogFormat,
		Extra:           s.Extra,
	}
	for _, f := range []struct {
		on  bool
		bit uint32
	}{{s.Permissive, ipc.FlagPermissive}, {s.Create, ipc.FlagCreate}, {s.ReadOnly, ipc.FlagReadOnly}, {s.Secure, ipc.FlagSecure}} {
		if f.on {
			w.Flags |= f.bit
		}
	}
	return w
}
