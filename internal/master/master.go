package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/internal/sandbox"
	"github.com/fbtftp-go/fbtftp/internal/udp"
)

// Master serves TFTP requests with one worker process per session.
type Master struct {
	cfg Config
	log *zap.Logger

	totals          ServerCounters // running totals since start, fed like any Observer
	obs             Observers      // totals, the live view's counts, then the configured observer
	recent          recentCounts   // the live view's last minute
	handoffFailures atomic.Uint64
	violations      violationCounters
	spawnFailing    atomic.Bool   // the last worker start failed: unhealthy
	healSpawns      chan struct{} // wakes the spawn healer
	live            atomic.Int64  // workers started and not yet buried
	inflight        atomic.Int64  // accepted sessions not finished yet
	pool            chan *worker  // ready, idle workers
	slots           chan struct{} // free places in the pool: a refiller takes one before it spawns
	epoch           string
	seq             atomic.Uint64
	gen             atomic.Uint64 // bumped by Reload: idle workers of older generations are not used

	workerEnv []string      // the environment of every worker
	execSpec  *sandbox.Spec // the sandbox applied at exec (SandboxAtExec), nil: by the worker
	spawner   *spawner      // starts workers when execSpec is set, while Run runs
	spawning  chan struct{} // a token per worker starting (MaxSpawning); nil: no bound
	jails     *jails        // how workers are contained (cgroup or process group)
	reaper    *orphanReaper // reaps what workers leave, with Config.ReapOrphans

	qobs QueueObserver // obs, for the admission queue's events
	// dispatchQueued starts the session of a request that waited in the
	// queue (dispatch; tests of the admission rules replace it).
	dispatchQueued func(e *queued, wait time.Duration)
	lastFull       atomic.Int64 // when the queue last refused a request for being full (unix ns)

	mu       sync.Mutex
	active   map[sessionKey]struct{} // sessions in flight, to drop duplicates (admission.go)
	held     int                     // slots held (admission.go)
	clients  map[netip.Addr]int      // slots held by each client (clientOf)
	queue    *admissionQueue         // requests waiting for a slot (queue.go)
	expiry   *time.Timer             // drops the queue's expired entries (expireQueue)
	expiryAt time.Time               // when expiry fires; zero: not set
	probes   probeTracker            // recent UEFI probes, for the log
	workers  map[*worker]struct{}    // every live worker
	idle     []*worker               // reused workers waiting for a session, most recent last (reuse.go)
	draining bool
	rules    atomic.Pointer[remap.Rules] // Config.Rules, then Reload's, for upload cleanup
	refusals refusalLimiter              // rate limit of the refusal log lines

	wcMu sync.RWMutex // held for reading while a worker is started
	wc   *os.File     // Config.WorkerConfig, then Reload's

	wg      sync.WaitGroup // every goroutine the master starts
	workWG  sync.WaitGroup // worker supervisors
	started chan struct{}

	retire     chan struct{} // closed by StopAccepting
	retireOnce sync.Once
}

// New validates cfg and returns a Master ready to Run.
func New(cfg Config) (*Master, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	m := &Master{
		cfg:        cfg,
		log:        cfg.Logger,
		pool:       make(chan *worker, max(cfg.Prefork, 1)),
		slots:      make(chan struct{}, max(cfg.Prefork, 1)),
		epoch:      strconv.FormatInt(time.Now().UnixNano()/1e6, 36),
		active:     map[sessionKey]struct{}{},
		clients:    map[netip.Addr]int{},
		workers:    map[*worker]struct{}{},
		started:    make(chan struct{}),
		retire:     make(chan struct{}),
		healSpawns: make(chan struct{}, 1),
		workerEnv:  append(append(os.Environ(), cfg.WorkerEnv...), cfg.Sandbox.Env()...),
		reaper:     newOrphanReaper(cfg.ReapOrphans, cfg.Logger),
	}
	if cfg.SandboxAtExec {
		if e, ok := cfg.Sandbox.ForExec(); ok {
			m.execSpec = &e
			m.workerEnv = append(append(os.Environ(), cfg.WorkerEnv...), e.Env()...)
		}
	}
	if cfg.MaxSpawning > 0 {
		m.spawning = make(chan struct{}, cfg.MaxSpawning)
	}
	m.obs = Observers{&m.totals, &m.recent, cfg.Observer}
	m.recent.start = time.Now() // the live view's window starts with the master
	m.qobs = queueObserver(m.obs)
	share := cfg.MaxSessionsPerClient // a client's share of the queue is its share of the workers
	m.queue = newAdmissionQueue(cfg.QueueSize, share, cfg.QueueTimeout)
	m.expiry = time.AfterFunc(time.Hour, m.expireQueue)
	m.expiry.Stop()
	m.dispatchQueued = func(e *queued, wait time.Duration) { m.dispatch(e.l, e.req, e.key, e.local, e.received, wait) }
	m.rules.Store(cfg.Rules)
	if cfg.SinglePort {
		for _, l := range cfg.Listeners {
			if err := l.EnableSinglePort(); err != nil {
				return nil, fmt.Errorf("master: single-port mode on %v: %w", l.LocalAddr(), err)
			}
		}
	}
	m.wc = cfg.WorkerConfig
	return m, nil
}

// Counters returns the running totals since start and the worker gauges.
func (m *Master) Counters() Snapshot {
	t := m.totals.Take(false)
	return Snapshot{
		Requests: t.Requests, Accepted: t.Accepted, Malformed: t.Malformed,
		Rejected: t.Rejected, Busy: t.Busy, Duplicates: t.Duplicates,
		Spawns: t.WorkerSpawns, SpawnFailures: t.WorkerSpawnFailures, Crashes: t.WorkerCrashes,
		Killed: t.WorkersKilled, HandoffFailure: m.handoffFailures.Load(),
		ClientLimited: t.ClientLimited, Violations: m.violations.snapshot(),
		Outcomes:    t.Sessions,
		LiveWorkers: m.live.Load(), IdleWorkers: int64(len(m.pool) + m.idleReused()), Inflight: m.inflight.Load(),
		MaxWorkers: int64(m.cfg.MaxWorkers),
		SlotsHeld:  m.slotsHeld(),
		Dropped:    t.Dropped, QueueAdmitted: t.QueueAdmitted, QueueDropped: t.QueueDropped,
		QueueLength: m.queueLen(), QueueSize: int64(m.cfg.QueueSize), QueueSaturated: m.QueueSaturated(),
	}
}

// Run serves until ctx ends, then drains: it stops reading, lets running
// sessions finish for up to DrainTimeout, terminates the rest and returns
// once every worker is reaped. It returns nil after a clean shutdown.
//
// After StopAccepting, Run stops reading as for a shutdown but lets the
// sessions in flight run to their end (each bounded by its session
// deadline), and returns once they are over; ctx ending meanwhile turns
// that into the shutdown drain above.
func (m *Master) Run(ctx context.Context) error {
	m.jails = newJails(m.cfg.CgroupDir, m.epoch, m.log)
	defer m.jails.close()
	// The reaper runs until the drain is over: the last workers' orphans
	// are reaped too.
	m.reaper.run()
	defer m.reaper.stop()
	if m.execSpec != nil {
		var err error
		if m.spawner, err = newSpawner(m.cfg.WorkerPath); err != nil {
			return fmt.Errorf("starting workers sandboxed at exec: %w", err)
		}
		defer m.spawner.close()
	}
	for range m.cfg.Prefork {
		m.slots <- struct{}{}
	}
	refillCtx, stopRefill := context.WithCancel(context.Background())
	defer stopRefill()
	for range min(m.cfg.Prefork, 4) {
		m.wg.Go(func() { m.refill(refillCtx) })
	}
	for _, l := range m.cfg.Listeners {
		m.wg.Go(func() { m.serve(l) })
	}
	m.log.Info("serving", zap.Int("pid", os.Getpid()), zap.String("epoch", m.epoch), zap.Int("listeners", len(m.cfg.Listeners)), zap.String("worker", m.cfg.WorkerPath), zap.Int("prefork", m.cfg.Prefork),
		zap.Int("max_workers", m.cfg.MaxWorkers), zap.Int("max_sessions_per_client", m.cfg.MaxSessionsPerClient),
		zap.Int("queue_size", m.cfg.QueueSize), zap.Duration("queue_timeout", m.cfg.QueueTimeout), zap.Bool("busy_error", m.cfg.BusyError))
	// loops is the life of the background loops: until shutdown or
	// StopAccepting (and the idle timeout, which is a shutdown).
	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	m.wg.Go(func() { m.healSpawnsLoop(loops) })
	if m.cfg.AllowWrite {
		m.wg.Go(func() { m.sweepUploads(loops) })
	}
	idle := make(chan struct{})
	if m.cfg.IdleTimeout > 0 {
		var once sync.Once
		m.wg.Go(func() { m.watchIdle(loops, func() { once.Do(func() { close(idle) }) }) })
	}
	if m.cfg.SinglePort {
		m.wg.Go(func() { m.auditSockets(ctx) })
	}
	close(m.started)
	if m.cfg.sized.MaxWorkers > 0 {
		m.log.Info("max_workers sized from the machine", zap.Int("max_workers", m.cfg.MaxWorkers), zap.Stringer("rule", m.cfg.sized))
	}
	retiring := false
	select {
	case <-ctx.Done():
	case <-idle:
	case <-m.retire:
		retiring = true
	}
	// Draining first, then the log line: whoever reads "shutting down"
	// finds /healthz unhealthy already.
	m.mu.Lock()
	m.draining = true
	dropped := m.drainQueue()
	m.mu.Unlock()
	if retiring {
		m.log.Info("stopped accepting: sessions in flight run to their end", zap.Int64("sessions_in_flight", m.inflight.Load()))
	} else {
		m.log.Info("shutting down", zap.Int64("sessions_in_flight", m.inflight.Load()),
			zap.Duration("drain_timeout", m.cfg.DrainTimeout))
	}
	for _, e := range dropped {
		m.queueDropped(e, QueueDropShutdown)
	}
	if len(dropped) > 0 {
		m.log.Info("admission queue dropped on shutdown", zap.Int("requests", len(dropped)))
	}
	// The master's own descriptors of the listeners: a process they were
	// handed to (StopAccepting) keeps the sockets open and reading.
	for _, l := range m.cfg.Listeners {
		l.Close()
	}
	stopLoops()
	stopRefill()
	m.wg.Wait() // listeners and refillers are gone: nothing adds workers now
	m.closeIdle()
	if retiring && !m.sessionsEnd(ctx) {
		m.log.Info("shutting down while sessions run", zap.Int64("sessions_in_flight", m.inflight.Load()),
			zap.Duration("drain_timeout", m.cfg.DrainTimeout))
	}
	m.drain()
	m.wcMu.Lock()
	m.wc.Close()
	m.wcMu.Unlock()
	return nil
}

// StopAccepting makes Run stop reading its listeners and starting
// workers, close the idle ones, and return once the sessions in flight
// have ended by themselves, with their stats accounted as usual: the
// end of a master whose listening sockets another process now reads (a
// zero-downtime upgrade). Run closes only its own descriptors of the
// listeners, never the sockets. Requests it read and had not handed to a
// worker yet are still served. Calling it again, or after Run, does
// nothing more.
func (m *Master) StopAccepting() {
	m.retireOnce.Do(func() { close(m.retire) })
}

// sessionsEnd waits for every session to end by itself, or for ctx to
// end (false).
func (m *Master) sessionsEnd(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		m.workWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve reads requests from one listener until it is closed.
func (m *Master) serve(l *udp.Listener) {
	buf := make([]byte, proto.MaxPacketSize+1)
	for {
		n, peer, local, _, err := l.ReadRequest(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, udp.ErrTruncated) || errors.Is(err, udp.ErrNoDestination) {
				m.decide(buf[:n], DecisionMalformed)
				continue
			}
			m.log.Warn("read request", zap.Error(err))
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		m.handle(l, buf[:n], peer, local, time.Now())
	}
}

// reply sends an ERROR from the listening socket, from the address the
// client talked to.
func (m *Master) reply(l *udp.Listener, peer netip.AddrPort, local netip.Addr, code proto.ErrorCode, msg string) {
	var b [128]byte
	m.obs.ErrorSent(code)
	if err := l.WriteTo(proto.AppendError(b[:0], code, msg), peer, local); err != nil {
		m.log.Debug("reply", zap.Stringer("peer", peer), zap.Error(err))
	}
}

// handle applies the checks that need no file system and starts a session.
func (m *Master) handle(l *udp.Listener, pkt []byte, peer netip.AddrPort, local netip.Addr, received time.Time) {
	req, err := proto.ParseRequest(pkt)
	switch {
	case errors.Is(err, proto.ErrUnknownMode):
		// Readable: tell the client (RFC 1350 §5, in.tftpd's answer).
		m.decide(pkt, DecisionRejected)
		msg := "Unknown mode"
		if req.RawMode == "" {
			msg = "Missing mode" // in.tftpd's text for an empty mode field
		}
		m.reply(l, peer, local, proto.ErrIllegalOp, msg)
		m.logRefusal(refusedUnknownMode, peer, local, req, msg)
		return
	case err != nil:
		// Malformed or not a request: dropped, never answered (an answer
		// to junk would make the server a reflector).
		m.decide(pkt, DecisionMalformed)
		if ce := m.log.Check(zap.DebugLevel, "dropped datagram"); ce != nil {
			ce.Write(zap.Stringer("peer", peer), zap.Int("bytes", len(pkt)), zap.Error(err))
		}
		return
	}
	if ce := m.log.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(zap.Stringer("op", req.Op), zap.Stringer("peer", peer), zap.Stringer("local", local),
			zap.String("file", req.Filename), zap.String("mode", req.RawMode), zap.Any("options", req.Options))
	}
	if req.Op == proto.OpWRQ && !m.cfg.AllowWrite {
		m.decide(pkt, DecisionRejected)
		m.reply(l, peer, local, proto.ErrAccessViolation, "Uploads are not enabled")
		m.logRefusal(refusedUploadsOff, peer, local, req, "Uploads are not enabled")
		return
	}
	key := sessionKey{peer: peer, op: req.Op, file: cleanName(req.Filename)}
	d, drop := m.admit(request{key: key, req: req, l: l, local: local, received: received})
	if drop != "" {
		m.qobs.QueueDropped(drop)
	}
	switch d {
	case decisionIgnore, decisionQueued:
		// Draining; or waiting in the queue, counted when it leaves it.
	case DecisionAccepted:
		m.workWG.Go(func() { m.dispatch(l, req, key, local, received, 0) })
	case DecisionBusy:
		m.decide(pkt, d)
		m.reply(l, peer, local, proto.ErrUndefined, "server busy")
		m.logRefusal(refusedBusy, peer, local, req, "server busy")
	case DecisionClientLimit: // dropped unanswered: its retransmission may get in
		m.decide(pkt, d)
		m.logRefusal(refusedClientLimit, peer, local, req, "")
	case DecisionDropped: // the queue is full: dropped unanswered, as above
		m.decide(pkt, d)
		m.logQueueDrop(drop, peer, local, req, 0)
	default: // a duplicate: dropped
		m.decide(pkt, d)
	}
}

// decide counts a datagram's fate.
func (m *Master) decide(pkt []byte, d Decision) {
	op, _ := proto.PeekOpcode(pkt)
	m.decideOp(op, d)
}

func (m *Master) decideOp(op proto.Opcode, d Decision) { m.obs.Request(op, d) }

// release gives back what admit took, for a request that got no worker.
func (m *Master) release(key sessionKey) {
	m.sessionEnded(key)
	m.freeSlot(key)
}

func (m *Master) newSessionID() string {
	return m.epoch + "-" + strconv.FormatUint(m.seq.Add(1), 10)
}

// sessionSocket creates the session socket for a request: a fresh port, or
// the listening port in single-port mode (then with the master's copy,
// which it keeps).
func (m *Master) sessionSocket(l *udp.Listener, local netip.Addr, peer netip.AddrPort) (*os.File, netip.AddrPort, *spSocket, error) {
	if !m.cfg.SinglePort {
		sock, bound, err := udp.NewSessionSocket(local, m.cfg.Ports)
		return sock, bound, nil, err
	}
	sp, err := m.newSinglePortSocket(l, local, peer)
	if err != nil {
		return nil, netip.AddrPort{}, nil, err
	}
	return sp.f, sp.bound, sp, nil
}

// dispatch creates the session socket and hands it to a worker. received
// is when the request was first read, wait the time it spent in the
// admission queue (0 when it did not wait).
func (m *Master) dispatch(l *udp.Listener, req *proto.Request, key sessionKey, local netip.Addr, received time.Time, wait time.Duration) {
	sock, bound, sp, err := m.sessionSocket(l, local, key.peer)
	if err != nil {
		m.release(key)
		m.decideOp(req.Op, DecisionRejected)
		msg := "server error"
		if errors.Is(err, udp.ErrPortRangeExhausted) {
			msg = "no free port"
		}
		m.log.Warn("session socket", zap.Stringer("local", local), zap.Error(err))
		m.reply(l, key.peer, local, proto.ErrUndefined, msg)
		return
	}
	handed := false
	defer func() {
		// The master's copy; the worker has its own. In single-port mode
		// the supervisor keeps it once the worker has the session.
		if sp == nil {
			sock.Close()
		} else if !handed {
			sp.close()
		}
	}()
	ho := &ipc.Handoff{
		SessionID: m.newSessionID(),
		Op:        req.Op,
		Filename:  req.Filename,
		RawMode:   req.RawMode,
		Mode:      req.Mode,
		Options:   req.Options,
		Peer:      key.peer,
		Local:     bound,
		Received:  received,
		Settings:  m.cfg.Settings,
	}
	for attempt := 0; attempt < 3; attempt++ {
		w, err := m.takeWorker()
		if err != nil {
			m.log.Error("no worker for the request: answered ERROR 0", zap.Error(err), zap.String("session_id", ho.SessionID),
				zap.Stringer("peer", key.peer), zap.String("file", req.Filename), zap.Stringer("op", req.Op))
			break
		}
		if !w.assign(ho, key, wait) {
			continue // died while idle
		}
		reuse := false
		if m.reuseOn() {
			w.mu.Lock()
			reuse = w.sessions+1 < m.cfg.SessionsPerWorker
			first := w.sessions == 0
			w.mu.Unlock()
			if first {
				// What a reused worker may hold open between sessions.
				if n, err := procFDs(w.pid); err == nil {
					w.baseFDs = n
				}
			}
		}
		ho.Reuse = reuse
		// A worker says nothing between Hello and Handoff: a message
		// queued now (Stats for a session it never had) is a lie.
		if pending, err := w.conn.Pending(); pending || err != nil {
			if pending {
				m.violation(ViolationEarlyMessage, w)
			}
			w.abandon()
			continue
		}
		sent := time.Now() // before the worker can have it: its clock starts later
		if err := w.conn.SendHandoff(ho, sock); err != nil {
			m.handoffFailures.Add(1)
			m.log.Warn("handoff", zap.Int("worker_pid", w.pid), zap.Error(err))
			w.abandon()
			continue
		}
		handed = true
		w.handedOff(sent, m.cfg.Settings.SessionDeadline+m.cfg.KillGrace, sp)
		m.decideOp(req.Op, DecisionAccepted)
		m.obs.Handoff(time.Since(received))
		return
	}
	m.release(key)
	m.decideOp(req.Op, DecisionRejected)
	m.reply(l, key.peer, local, proto.ErrUndefined, "server error")
}

// takeWorker returns an idle reused worker, the most recently idle first,
// else one from the pool, or starts one.
func (m *Master) takeWorker() (*worker, error) {
	for {
		if w := m.popIdle(); w != nil {
			if w.gen != m.gen.Load() {
				w.close() // served before a Reload
				continue
			}
			return w, nil
		}
		select {
		case w := <-m.pool:
			m.slots <- struct{}{} // a place for the refillers
			if w.gen != m.gen.Load() {
				w.close() // started before a Reload
				continue
			}
			return w, nil
		default:
		}
		return m.spawn(false) // a request waits: no turn to wait for
	}
}

// refill keeps the pool full until ctx ends: it waits for a free place,
// starts a worker and puts it in the pool, so the pool never holds more
// than Prefork workers.
func (m *Master) refill(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.slots:
		}
		for m.live.Load() >= int64(m.cfg.MaxWorkers) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		w, err := m.spawn(true)
		if err != nil {
			m.slots <- struct{}{}
			m.log.Error("prefork", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second): // do not spin on a broken worker binary
			}
			continue
		}
		if w.gen != m.gen.Load() {
			w.close() // started before a Reload: start another
			m.slots <- struct{}{}
			continue
		}
		m.pool <- w // never blocks: the slot was free
	}
}

// closeIdle closes the idle workers: EOF makes them exit.
func (m *Master) closeIdle() {
	m.closeReused()
	for {
		select {
		case w := <-m.pool:
			w.close()
		default:
			return
		}
	}
}

// drain waits for running sessions, then terminates what is left.
func (m *Master) drain() {
	done := make(chan struct{})
	go func() {
		m.workWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(m.cfg.DrainTimeout):
	}
	m.log.Warn("drain timeout: terminating sessions", zap.Int64("sessions_in_flight", m.inflight.Load()))
	m.signalAll(false)
	select {
	case <-done:
		return
	case <-time.After(m.cfg.KillGrace):
	}
	m.signalAll(true)
	<-done
}

func (m *Master) signalAll(kill bool) {
	m.mu.Lock()
	ws := make([]*worker, 0, len(m.workers))
	for w := range m.workers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		if kill {
			w.kill()
		} else {
			w.terminate()
		}
	}
}

// Started is closed once Run has started its listeners (for tests).
func (m *Master) Started() <-chan struct{} { return m.started }

// String describes the master for logs.
func (m *Master) String() string {
	return fmt.Sprintf("master(pid %d, %d listeners)", os.Getpid(), len(m.cfg.Listeners))
}
