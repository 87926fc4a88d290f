package server

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/httporigin"
	"github.com/fbtftp-go/fbtftp/internal/master"
	"github.com/fbtftp-go/fbtftp/internal/metrics"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/upgrade"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Family restricts the addresses the server listens on (in.tftpd -4, -6).
type Family int

// The address families.
const (
	AnyFamily Family = iota // IPv4 and IPv6
	IPv4Only                // in.tftpd -4
	IPv6Only                // in.tftpd -6
)

// PortRange is a range of UDP ports for session sockets (in.tftpd -R),
// Low to High inclusive. The zero value lets the kernel pick.
type PortRange struct {
	Low, High uint16
}

// Server is fbtftp-go's master: it listens, hands every session to a
// worker process it starts (the stock fbtftp-worker, or WorkerPath), and
// reports statistics. Every field has a working zero value except Root or
// Dirs; the fields mirror fbtftp-master's options, named in their comments.
// Set them before Run and do not change them afterwards.
type Server struct {
	// Addrs are the listen addresses, in.tftpd -a syntax
	// "[addr][:port]" (IPv6 in brackets; an empty address means every IPv4
	// and IPv6 address). None, and no Listeners: every address, port 69.
	Addrs []string
	// Port is the port of Addrs given without one, a number or a service
	// name (in.tftpd -S); default "tftp" (69).
	Port string
	// Family restricts Addrs to IPv4 or IPv6 (in.tftpd -4, -6).
	Family Family
	// Listeners are UDP sockets bound already (systemd socket activation,
	// inetd's standard input, a test's port-0 socket). Run takes them
	// over: it closes the files, and the sockets when it returns.
	Listeners []*os.File

	// Root is the one served directory, in.tftpd -s: requests name files
	// relative to it, and when the process runs as root the workers
	// chroot into it and run as User.
	Root string
	// Dirs are the directories files may be served from without -s:
	// requests name absolute paths beneath one of them. Set Root or Dirs,
	// not both.
	Dirs []string
	// User is the unprivileged user workers run as (in.tftpd -u) when the
	// process is root; default "nobody".
	User string
	// Uploads lets write requests through to the workers. Without it the
	// master answers every WRQ with ERROR 2 "Uploads are not enabled"
	// (fbtftp-master --read-only) and workers get Settings.ReadOnly.
	Uploads bool
	// MapFile is a tftpd-hpa remap rules file (in.tftpd -m). Run and Reload
	// read and check it and hand the workers the checked copy: workers
	// never read the file.
	MapFile string
	// TemplateData is a JSON file of values for *.tmpl files
	// (--template-data, docs/templates.md), read and checked as MapFile
	// is.
	TemplateData string
	// HTTP configures HTTP origins (--http-*): with an Origin, Origins or
	// a CacheDir, or a map file that routes names to URLs, workers serve
	// from HTTP origins too, and the default worker is fbtftp-worker-http.
	// CacheDir is created (mode 0700, owned by User) and must lie outside
	// every served directory.
	HTTP httporigin.Config
	// Settings travel to every worker with each session: timeouts, limits,
	// refused options, upload rules (Permissive, Create, Umask, MaxUpload),
	// log verbosity and format, and Extra for custom workers. Run sets
	// Roots, Secure and ReadOnly from Root, Dirs and Uploads; Retries
	// defaults to 5.
	Settings fbtftp.Settings
	// BlksizeFromMTU sets Settings.MaxBlksize to the largest block size
	// whose packets fit the MTU of the listening addresses, less MTUSlack
	// bytes (in.tftpd -B mtu-N).
	BlksizeFromMTU bool
	MTUSlack       int
	// Ports is the range session sockets are bound in (in.tftpd -R).
	Ports PortRange
	// SinglePort sends and receives every packet of every session on the
	// listening address and port (--single-port): each session's socket
	// is bound to the listening port and connected to its client, so that
	// NAT, conntrack and per-flow balancers see one flow per session
	// (docs/scaling.md). Ports must then be zero. The listeners get
	// SO_REUSEPORT.
	SinglePort bool

	// WorkerPath is the worker binary; default fbtftp-worker (or
	// fbtftp-worker-http, see HTTP) in the directory of the running
	// program, symbolic links resolved. WorkerArgs are its arguments.
	WorkerPath string
	WorkerArgs []string
	// WorkerEnv is added to the environment workers inherit; it defaults
	// GOMAXPROCS to 1 (one session per worker needs no more).
	WorkerEnv []string
	// WorkerDirs are more directories the default worker is looked for in,
	// after the program's own and ../libexec/fbtftp beside it.
	WorkerDirs []string
	// Prefork is the number of started, sandboxed, idle workers kept
	// ready; MaxWorkers bounds the sessions at once (default: sized from
	// the machine's memory, CPUs and process limits, see
	// master.SizeMaxWorkers; beyond, requests wait in the admission
	// queue); DrainTimeout is how long sessions may finish after ctx ends
	// (default 30 s); IdleTimeout, when positive, ends Run after that long
	// without a request or a session (in.tftpd -t in inetd mode).
	Prefork      int
	MaxWorkers   int
	DrainTimeout time.Duration
	IdleTimeout  time.Duration
	// MaxSpawning bounds the pool refills starting workers at once (a
	// start for a waiting request never waits): 0 means 1, a negative
	// value no bound (--max-spawning).
	MaxSpawning int
	// WorkerMemoryLimit bounds each worker's memory in bytes: a hard limit
	// on its data segment (RLIMIT_DATA), and half of it as GOMEMLIMIT with
	// GOGC=off. 0 means 256 MiB, a negative value no limit
	// (--worker-memory-limit; a worker built with -race needs none).
	WorkerMemoryLimit int64
	// QueueSize bounds the admission queue, where requests beyond
	// MaxWorkers (or beyond their client's MaxSessionsPerClient) wait for
	// a worker, served round robin across clients (--queue-size; 0 means
	// 10000, a negative value no queue). QueueTimeout drops a waiting
	// request its client has not sent again for that long (--queue-timeout,
	// default 6 s). BusyError answers a request beyond MaxWorkers with
	// ERROR 0 "server busy" instead of queueing it (--busy-error): boot
	// firmware takes an ERROR as a failed boot. docs/admission.md.
	QueueSize    int
	QueueTimeout time.Duration
	BusyError    bool
	// MaxSessionsPerClient bounds the sessions of one client address (an
	// IPv6 client counts by its /64): 0 means 8, a negative value no
	// limit (--max-sessions-per-client).
	MaxSessionsPerClient int
	// SessionsPerWorker is how many sessions one worker process serves,
	// one after another and never two at once (--sessions-per-worker);
	// 0 or 1 means one: a fresh process per session. Reuse trades
	// isolation for speed: a later session runs in the address space an
	// earlier one used (docs/security.md). WorkerIdleTimeout closes a
	// reused worker that waited that long for a session (0: 30 s);
	// WorkerMaxRSS kills instead of reusing a worker whose resident set
	// exceeds it after a session (0: 128 MiB; negative: no bound).
	SessionsPerWorker int
	WorkerIdleTimeout time.Duration
	WorkerMaxRSS      int64
	// Where the kernel has Landlock, workers may open files only beneath
	// the served directories (writable only with Uploads), the HTTP cache
	// and WritableDirs, even outside a chroot. NoLandlock turns that off,
	// for workers that read other files during a session (read them
	// before fbtftp.ServeWorker instead).
	WritableDirs []string
	NoLandlock   bool
	// Workers install a seccomp filter that allows only the system calls
	// sessions need (internal/sandbox; linux/amd64 and arm64), as the last
	// step of their sandbox; NoSeccomp turns it off (--no-seccomp), for a
	// custom worker that needs more.
	NoSeccomp bool
	// ReapOrphans makes the master a child subreaper that reaps every
	// child process that is not one of its workers, so that what a worker
	// leaves behind never becomes a zombie. Set it when the server owns
	// its process (fbtftp-master does).
	ReapOrphans bool

	// MetricsAddr, when set, serves Prometheus /metrics and /healthz
	// there (HOST:PORT). Version is reported in fbtftp_build_info.
	MetricsAddr string
	Version     string
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger

	// SessionStats is called after every session, with its full stats.
	SessionStats func(*tftp.SessionStats)
	// ServerStats is called every StatsInterval (default 60 s) and once
	// more when the server stops.
	ServerStats   func(*ServerStats)
	StatsInterval time.Duration
	// Listening, when set, is called with the bound addresses once the
	// server listens (useful with port 0), before it serves.
	Listening func(addrs []string)

	// Handover, in a process started by Upgrade (TakeHandover), gives Run
	// the old server's listening sockets and metrics listener instead of
	// Addrs and Listeners (which are then ignored), and Run tells the old
	// server once it serves, after Listening.
	Handover *Handover

	mu      sync.Mutex
	running *run // while Run runs
}

// run is the state of a running Server.
type run struct {
	m          *master.Master
	wc         *workerConfig
	obs        *observer
	workerPath string
	log        *zap.Logger

	listeners   []*udp.Listener
	metricsLn   net.Listener   // nil without MetricsAddr
	carry       *metrics.Carry // the metrics, the old server's included; nil without MetricsAddr
	stopMetrics func()         // stops serving metrics
	done        chan struct{}  // closed when the master has returned
	wg          sync.WaitGroup // Upgrade's goroutines

	upMu  sync.Mutex
	child *upgrade.Child // the server handed over to, by Upgrade
}

// ErrNotRunning is returned by Reload when Run is not running.
var ErrNotRunning = errors.New("server: not running")

// Run serves until ctx ends (or IdleTimeout passes), then drains running
// sessions (DrainTimeout) and returns nil. A configuration it cannot start
// with is a *StartError. A panic in a callback is recovered and logged.
func (s *Server) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if s.Handover != nil {
		// Last: after the goroutine that reads the old server's messages.
		defer s.Handover.h.Close()
	}
	st, err := s.prepare(log)
	if err != nil {
		closeFiles(s.Listeners)
		return err
	}
	// The metrics listener outlives ctx: it serves through the drain and
	// closes last.
	mctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	m, obs, err := st.start(mctx)
	if err != nil {
		return err
	}
	r := &run{
		m: m, wc: st.wc, obs: obs, workerPath: st.cfg.WorkerPath, log: log,
		listeners: st.cfg.Listeners, metricsLn: st.metricsLn, carry: obs.carry,
		stopMetrics: stopMetrics, done: make(chan struct{}),
	}
	s.mu.Lock()
	s.running = r
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
	}()
	if s.Listening != nil {
		safely(log, "listening callback", func() { s.Listening(st.addrs()) })
	}
	done := make(chan struct{})
	reporterDone := make(chan struct{})
	go func() {
		defer close(reporterDone)
		s.reportServerStats(log, m, st.counters, done)
	}()
	if s.Handover != nil {
		version := s.Version
		if version == "" {
			version = defaultVersion
		}
		r.wg.Go(func() { s.Handover.ready(log, version, obs.carry, obs.live, r.done) })
	}
	err = m.Run(ctx)
	close(done)
	<-reporterDone
	close(r.done)
	r.wg.Wait()
	r.finishUpgrade()
	return err
}

// Reload is in.tftpd's SIGHUP: it reads and checks MapFile and
// TemplateData again and hands the new copy to the workers started from
// now on; idle workers started before are replaced, sessions in flight
// are not disturbed. A file that cannot be read or is invalid changes
// nothing: the last good configuration stays in force, the error is
// returned and logged, and fbtftp_config_reloads_total{result="failure"}
// counts it (in.tftpd exits instead).
func (s *Server) Reload() error {
	s.mu.Lock()
	r := s.running
	s.mu.Unlock()
	if r == nil {
		return ErrNotRunning
	}
	return r.reload(s)
}

// closeFiles closes fs, ignoring errors.
func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// unwrapPath drops the operation and path of an *fs.PathError, for
// in.tftpd-style "DIR: No such file or directory" messages.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
