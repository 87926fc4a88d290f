package master

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/internal/wlog"
)

// Defaults for zero Config fields.
const (
	DefaultDrainTimeout    = 30 * time.Second
	DefaultHelloTimeout    = 10 * time.Second
	DefaultSessionDeadline = 30 * time.Minute
	DefaultKillGrace       = 5 * time.Second
	// DefaultWorkerMemoryLimit: an idle stock worker maps about 75 MiB of
	// data (its first 64 MiB heap arena, mostly untouched) and has 2 to 5
	// MiB resident; a session at blksize 65464 and windowsize 64 needs
	// about 8 MiB more.
	DefaultWorkerMemoryLimit = 256 << 20
	// DefaultMaxSessionsPerClient is the default share of one client
	// address (an IPv6 /64). A booting machine has one or two sessions
	// at once (a UEFI size probe and its download, a worker finishing a
	// cache fill); 8 leaves room for that. A flood from one address then
	// keeps at most 8 workers busy: measured on 2 loaded vCPUs
	// (test/hostile TestFlood), 8 kept every legitimate download of 20
	// other clients going, 16 lost 2% of them, 64 more than half.
	DefaultMaxSessionsPerClient = 8
	// DefaultQueueSize is the default bound of the admission queue: twice
	// the largest storm measured here (5000 machines at once), at about
	// 0.5 KiB an entry (a parsed request and its bookkeeping): 5 MiB
	// at most.
	DefaultQueueSize = 10000
	// DefaultQueueTimeout is how long a request waits in the admission
	// queue without its client asking for it again. Boot firmware resends
	// an unanswered RRQ every 0.25-8 s (iPXE, doubling), 0.4-1.2 s (GRUB),
	// 4 s (EDK2 UEFI PXE), 5 s (U-Boot, legacy PXE base code): 6 s
	// outlasts every steady interval, so a client still asking never
	// loses its place, while one that gave up (moved to its next boot
	// device) is forgotten within 6 s instead of being handed a worker
	// that would retransmit into the void for its whole retry budget.
	// docs/admission.md has the sources.
	DefaultQueueTimeout = 6 * time.Second
	// DefaultWorkerIdleTimeout is how long a reused worker waits for its
	// next session before the master closes it.
	DefaultWorkerIdleTimeout = 30 * time.Second
	// DefaultWorkerMaxRSS bounds a reused worker's resident set: one
	// that has more after a session is killed instead of reused. The
	// stock worker holds 8 to 12 MiB, with a window of 64 blocks of 64
	// KiB in flight about 20 MiB.
	DefaultWorkerMaxRSS = 128 << 20
)

// Config configures a Master. Fields marked required must be set; the
// others have working zero values.
type Config struct {
	// Listeners are the sockets requests arrive on (required). The master
	// closes them when it stops.
	Listeners []*udp.Listener
	// WorkerPath is the worker binary (required); WorkerArgs its arguments.
	WorkerPath string
	WorkerArgs []string
	// WorkerEnv is added to the environment the workers inherit.
	WorkerEnv []string
	// WorkerConfig is the sealed configuration (ipc.SealWorkerConfig) every
	// worker started gets as ipc.ConfigFD, until Reload replaces it. The
	// master owns it and closes it. Nil: an empty one.
	WorkerConfig *os.File
	// Rules are the remap rules of WorkerConfig, parsed, for the master's
	// own use (the temporary file of a crashed upload); nil: none.
	Rules *remap.Rules
	// Sandbox is how workers confine themselves before they are ready.
	Sandbox sandbox.Spec
	// SandboxAtExec has the master apply Sandbox's chroot, user and
	// no_new_privs while it starts a worker, between fork and exec
	// (sandbox.Spec.AtExec): cheaper, since a Go worker would stop all its
	// threads for each. Only for workers that open nothing outside the
	// root before they serve, like the stock fbtftp-worker: the others
	// open their files between Connect and Serve. Ignored (the worker
	// applies Sandbox) when the spec has no chroot and no user, or a
	// Landlock path outside the root.
	SandboxAtExec bool
	// Settings travel with every Handoff. Zero SessionDeadline means
	// DefaultSessionDeadline.
	Settings ipc.Settings
	// Prefork is the number of started, idle workers kept ready.
	Prefork int
	// MaxSpawning bounds the pool refills running at once (each from exec
	// to Hello): background starts then take turns instead of competing
	// with the running transfers and with each other for the CPUs. A
	// refill waits for its turn at most HelloTimeout. A start for a
	// waiting request (the pool was empty) never waits: bounding those
	// was measured to multiply first-packet latency (docs/benchmarks.md).
	// 0 means 1; a negative value means no bound (at most 4 refills run).
	MaxSpawning int
	// WorkerMemoryLimit bounds the memory of a worker, in bytes: half of it
	// is the Go runtime's soft limit (GOMEMLIMIT: the collector works to
	// stay under it; workers also run with GOGC=off, so that a short
	// session does not collect at all), and all of it a hard limit on its
	// data segment (RLIMIT_DATA, set by the master when it starts the
	// worker: an allocation beyond it fails and the worker dies, which
	// costs one session). 0 or a negative value means no limit (and the
	// runtime's default GOGC); server.Server and fbtftp-master default to
	// DefaultWorkerMemoryLimit. A worker built with -race cannot run
	// under a data limit (ThreadSanitizer maps its shadow memory).
	WorkerMemoryLimit int64
	// MaxWorkers bounds the sessions in flight (each holds one worker); a
	// request beyond it waits in the admission queue (QueueSize). 0 means
	// sized from the machine: SizeMaxWorkers(ReadMachine()). A session holds its place until its worker and
	// every process the worker started are gone, also when the worker
	// lingers after the session (a fbtftp.Drainer).
	MaxWorkers int
	// MaxSessionsPerClient bounds the places one client holds: its
	// address, or its /64 for IPv6, so that one address cannot take every
	// worker. A request beyond it waits in the admission queue for one of
	// its client's places, and the client may have as many requests
	// waiting; beyond that, it is dropped without an answer. 0 means
	// DefaultMaxSessionsPerClient; a negative value means no limit (and no
	// per-client bound in the queue).
	MaxSessionsPerClient int
	// QueueSize bounds the admission queue: the requests waiting for a
	// place, served as places free, round robin across clients. A request
	// that finds the queue full is dropped without an answer (its
	// client's retransmission tries again). 0 means DefaultQueueSize; a
	// negative value means no queue: beyond MaxWorkers requests are
	// dropped (or refused, BusyError), beyond MaxSessionsPerClient
	// dropped.
	QueueSize int
	// QueueTimeout is how long a request waits in the queue without its
	// client sending it again; each repeat restarts it, and keeps the
	// request's place. 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// BusyError answers a request beyond MaxWorkers with ERROR 0 "server
	// busy" at once instead of queueing it (what the master did before
	// the queue existed). Most boot firmware takes an ERROR as a failed
	// boot: set it only where clients fail over to another server.
	BusyError bool
	// SessionsPerWorker is how many sessions one worker process serves,
	// one after another and never two at once, before it exits. 0 or 1:
	// one (a fresh process per session). Beyond, a worker that finished a
	// session cleanly waits for the next one (see reuse.go for when it is
	// not reused): a later session then runs in the address space an
	// earlier one used.
	SessionsPerWorker int
	// WorkerIdleTimeout is how long a reused worker waits for its next
	// session before the master closes it. 0 means
	// DefaultWorkerIdleTimeout.
	WorkerIdleTimeout time.Duration
	// WorkerMaxRSS bounds a reused worker's resident set size in bytes,
	// read from /proc after each session: a worker over it is killed
	// instead of reused. 0 means DefaultWorkerMaxRSS; negative, no bound.
	WorkerMaxRSS int64
	// DrainTimeout is how long running sessions may go on after shutdown
	// starts, before their workers are terminated. 0 means 30 s.
	DrainTimeout time.Duration
	// HelloTimeout bounds a worker's start (exec to Hello). 0 means 10 s.
	HelloTimeout time.Duration
	// KillGrace is the time a worker gets past its session deadline (and
	// after it is told to stop at shutdown) before it is killed. 0 means 5 s.
	KillGrace time.Duration
	// AllowWrite lets WRQ through to the workers; otherwise the master
	// answers every WRQ with ERROR 2. With it, the master also removes,
	// once at start, the upload temporary files a killed server left in
	// the roots.
	AllowWrite bool
	// CgroupDir is the cgroup v2 directory under which the master creates
	// one cgroup per worker, so that it can kill a worker with every
	// process it started and knows when they are all gone (under systemd:
	// the service's own cgroup, with Delegate=yes). Empty means the
	// master's own cgroup; CgroupNone turns cgroups off. Where the master
	// cannot create cgroups there, workers run in their own process group
	// only, and the log says so.
	CgroupDir string
	// ReapOrphans makes the master a child subreaper that reaps every
	// child process that is not one of its workers: the processes a worker
	// leaves behind then never become zombies of an init that does not
	// reap. Set it only when the master owns its process (fbtftp-master
	// does); it is on anyway when the master is PID 1.
	ReapOrphans bool
	// IdleTimeout, when positive, makes Run shut down (and drain) once no
	// request has arrived and no session has been in flight for that long:
	// in.tftpd's -t in inetd mode. Zero means never.
	IdleTimeout time.Duration
	// Ports is the range session sockets are bound in (in.tftpd -R);
	// the zero value lets the kernel pick.
	Ports udp.PortRange
	// SinglePort binds every session socket to the listening port too,
	// connected to its client (udp.NewSinglePortSocket), so that every
	// packet of every session comes from the listening address and port:
	// NAT and conntrack then see one flow per session. New sets
	// SO_REUSEPORT on the listeners. Ports must be zero.
	SinglePort bool
	// Logger receives the master's logs; nil discards them.
	Logger *zap.Logger
	// Observer receives events for metrics; nil means none.
	Observer Observer
	// OnSession is called (from a worker's supervising goroutine) with the
	// stats of every finished session, crashed workers included.
	OnSession func(*stats.SessionStats)

	sized Sizing // how fill sized MaxWorkers; zero when it was given
}

func (c *Config) fill() error {
	if len(c.Listeners) == 0 {
		return errors.New("master: no listeners")
	}
	if c.WorkerPath == "" {
		return errors.New("master: no worker path")
	}
	if c.SinglePort && !c.Ports.IsZero() {
		return errors.New("master: a port range and single-port mode exclude each other")
	}
	if c.MaxWorkers <= 0 {
		c.sized = SizeMaxWorkers(ReadMachine())
		c.MaxWorkers = c.sized.MaxWorkers
	}
	if c.MaxSessionsPerClient == 0 {
		c.MaxSessionsPerClient = DefaultMaxSessionsPerClient
	}
	switch {
	case c.QueueSize == 0:
		c.QueueSize = DefaultQueueSize
	case c.QueueSize < 0:
		c.QueueSize = 0
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.Prefork < 0 {
		c.Prefork = 0
	}
	if c.Prefork > c.MaxWorkers {
		c.Prefork = c.MaxWorkers
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.SessionsPerWorker < 1 {
		c.SessionsPerWorker = 1
	}
	if c.WorkerIdleTimeout <= 0 {
		c.WorkerIdleTimeout = DefaultWorkerIdleTimeout
	}
	if c.WorkerMaxRSS == 0 {
		c.WorkerMaxRSS = DefaultWorkerMaxRSS
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.MaxSpawning == 0 {
		c.MaxSpawning = 1
	}
	if c.Settings.SessionDeadline <= 0 {
		c.Settings.SessionDeadline = DefaultSessionDeadline
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	c.WorkerEnv = append(runtimeEnv(c.WorkerMemoryLimit, c.SessionsPerWorker > 1), c.WorkerEnv...)
	if f := c.Settings.LogFormat; f != "" {
		// Workers log in this format from their start, errors before
		// and after the session included: one stream.
		c.WorkerEnv = append(slices.Clip(c.WorkerEnv), wlog.EnvFormat+"="+f)
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.WorkerConfig == nil {
		f, err := ipc.SealWorkerConfig(&ipc.WorkerConfig{})
		if err != nil {
			return err
		}
		c.WorkerConfig = f
	}
	return nil
}

// runtimeEnv is the Go runtime's configuration for workers, before
// Config.WorkerEnv (which may override it): a process that lives for one
// transfer need not collect garbage, so GOGC=off, with the memory limit
// as the soft limit that makes the collector run when a worker nears it;
// and no memory profiling (the runtime samples an allocation every 512 KiB
// by default, each with a stack trace). A reused worker (reuse) keeps
// the collector on: sessions after sessions would otherwise grow its heap
// to the soft limit, past WorkerMaxRSS.
func runtimeEnv(limit int64, reuse bool) []string {
	env := []string{"GODEBUG=" + godebug("memprofilerate=0")}
	if limit > 0 {
		// Half: the data segment counts the heap's 64 MiB arenas whole,
		// and stacks; the hard limit must not come first.
		if !reuse {
			env = append(env, "GOGC=off")
		}
		env = append(env, "GOMEMLIMIT="+strconv.FormatInt(limit/2, 10))
	}
	return env
}

// godebug adds setting to the master's own GODEBUG, which workers would
// otherwise inherit.
func godebug(setting string) string {
	if g := os.Getenv("GODEBUG"); g != "" {
		return g + "," + setting
	}
	return setting
}
