package master

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

type workerState int

const (
	stateIdle     workerState = iota // ready, waiting for a Handoff
	stateAssigned                    // taken by dispatch, which is sending the Handoff
	stateBusy                        // handed a session
	stateDead                        // exited (or exiting) before a session
)

// worker is one worker process. Its supervising goroutine owns it: it waits
// for the process to exit, reads the Stats, reaps it and its jail, and does
// the accounting.
type worker struct {
	m    *Master
	cmd  *exec.Cmd
	jail jail
	conn *ipc.Conn // the master's end of the socketpair; owned by the supervisor
	pid  int
	gen  uint64 // Master.gen when it was started

	exited     chan struct{} // closed once the process has exited (a zombie until reaped)
	dispatched chan bool     // dispatch's verdict on an assigned worker: handed off or not

	mu      sync.Mutex
	state   workerState
	handoff *ipc.Handoff // the session, once assigned
	key     sessionKey
	wait    time.Duration // the request's time in the admission queue
	sent    time.Time     // when the Handoff went out
	timer   *time.Timer   // session deadline, or the grace of a closed idle worker
	killed  bool          // by the deadline timer
	reaped  bool          // its pid (and pgid) may belong to someone else now
	sp      *spSocket     // the master's copy of a single-port session socket
	live    liveState     // the session's progress, from its reports
	closed  atomic.Bool   // the master closed an idle worker on purpose

	// Reuse (reuse.go). sessions counts the Handoffs sent (guarded by
	// mu); baseFDs is the number of descriptors the worker had open
	// before its first session (0: unknown); idleTimer, guarded by
	// Master.mu, closes it once idle for WorkerIdleTimeout.
	sessions  int
	baseFDs   int
	idleTimer *time.Timer
}

// spawn starts a worker in its own jail and waits for its Hello (it is
// then sandboxed and ready). The supervisor goroutine starts with it. A
// background start (a pool refill) first waits for its turn among
// MaxSpawning; a start for a waiting request does not.
func (m *Master) spawn(background bool) (*worker, error) {
	budget := background && m.spawning != nil
	if budget && !m.spawnTurn() {
		m.spawnFailed()
		return nil, fmt.Errorf("no turn to start a worker within %v (%d starting)", m.cfg.HelloTimeout, m.cfg.MaxSpawning)
	}
	w, err := m.start()
	if budget {
		<-m.spawning
	}
	if err != nil {
		return nil, err
	}
	m.workWG.Go(w.supervise)
	return w, nil
}

// spawnTurn waits for a place among the background starts (MaxSpawning),
// at most HelloTimeout.
func (m *Master) spawnTurn() bool {
	select {
	case m.spawning <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(m.cfg.HelloTimeout)
	defer t.Stop()
	select {
	case m.spawning <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// start starts a worker and waits for its Hello.
func (m *Master) start() (*worker, error) {
	gen := m.gen.Load()
	conn, wf, err := ipc.Socketpair()
	if err != nil {
		m.spawnFailed()
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	newCmd := func() *exec.Cmd {
		var cmd *exec.Cmd
		if m.spawner != nil {
			cmd = m.spawner.command(m) // chroot and user at exec
		} else {
			cmd = exec.Command(m.cfg.WorkerPath, m.cfg.WorkerArgs...)
		}
		cmd.ExtraFiles = []*os.File{wf, m.wc} // become fd 3 (ipc.WorkerFD) and 4 (ipc.ConfigFD)
		cmd.Env = m.workerEnv
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		return cmd
	}
	var (
		cmd *exec.Cmd
		j   jail
	)
	run := func() {
		m.reaper.start(func() int {
			if cmd, j, err = m.jails.start(newCmd); err != nil {
				return 0
			}
			return cmd.Process.Pid
		})
	}
	m.wcMu.RLock() // Reload closes the old configuration once no start uses it
	if m.spawner != nil {
		m.spawner.do(run) // from the thread with no_new_privs, in the worker's directory
	} else {
		run()
	}
	m.wcMu.RUnlock()
	wf.Close() // the child has its copy
	if err != nil {
		conn.Close()
		m.spawnFailed()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	m.live.Add(1)
	t0 := time.Now()
	if lim := m.cfg.WorkerMemoryLimit; lim > 0 {
		// Before its Hello: nothing untrusted has run in it yet.
		limitData(cmd.Process.Pid, lim)
	}
	w := &worker{m: m, cmd: cmd, jail: j, conn: conn, pid: cmd.Process.Pid, gen: gen,
		exited: make(chan struct{}), dispatched: make(chan bool, 1)}
	go func() { // ends when the process exits; the supervisor (or discard) waits for that
		watchExit(w.pid)
		close(w.exited)
	}()
	hello, err := conn.RecvHello(time.Now().Add(m.cfg.HelloTimeout))
	if err == nil && int(hello.PID) != w.pid {
		err = fmt.Errorf("hello from pid %d, started pid %d", hello.PID, w.pid)
	}
	if err != nil {
		m.spawnFailed()
		w.kill()
		w.bury()
		conn.Close()
		m.live.Add(-1)
		return nil, fmt.Errorf("worker %d not ready: %w", w.pid, err)
	}
	m.spawnSucceeded()
	m.obs.WorkerStarted(time.Since(t0))
	m.mu.Lock()
	m.workers[w] = struct{}{}
	m.mu.Unlock()
	return w, nil
}

// assign marks an idle worker as taken by dispatch; false if it is dead.
// wait is the request's time in the admission queue, for the session line.
func (w *worker) assign(ho *ipc.Handoff, key sessionKey, wait time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateIdle {
		return false
	}
	w.state, w.handoff, w.key, w.wait = stateAssigned, ho, key, wait
	return true
}

// abandon gives up an assigned worker (it spoke before its Handoff, or the
// Handoff failed): it is killed, and no session is accounted for it.
func (w *worker) abandon() {
	w.kill()
	w.dispatched <- false
}

// handedOff records that the worker owns its session, handed over at
// sent (with sp, the master's copy of a single-port session socket, or
// nil), and starts the session deadline: past d it is killed with its
// descendants.
func (w *worker) handedOff(sent time.Time, d time.Duration, sp *spSocket) {
	w.mu.Lock()
	w.state, w.sent, w.sp = stateBusy, sent, sp
	w.live = liveState{} // a reused worker's last session is over
	w.sessions++
	w.timer = time.AfterFunc(d, func() {
		w.mu.Lock()
		if w.reaped {
			w.mu.Unlock()
			return
		}
		w.killed = true
		w.mu.Unlock()
		w.m.log.Warn("session deadline passed: killing the worker and its processes", zap.Int("worker_pid", w.pid),
			zap.String("session_id", w.sessionID()), zap.Stringer("jail", w.jail))
		w.kill()
	})
	w.mu.Unlock()
	w.dispatched <- true
}

func (w *worker) sessionID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handoff == nil {
		return ""
	}
	return w.handoff.SessionID
}

// close closes the master's end: an idle worker sees EOF and exits. One
// that does not is killed after KillGrace.
func (w *worker) close() {
	w.closed.Store(true)
	w.conn.Close()
	w.mu.Lock()
	if w.timer == nil {
		w.timer = time.AfterFunc(w.m.cfg.KillGrace, w.kill)
	}
	w.mu.Unlock()
}

// kill kills the worker and every process in its jail. It does nothing
// once the worker is reaped: its pid and process group id may then be
// reused.
func (w *worker) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.reaped {
		w.jail.kill()
	}
}

// terminate asks the worker to stop: the master shuts down its sending
// side of the socketpair, the worker sees EOF, ends its session with
// ERROR 0 and reports it (the master still reads its end). No signal:
// workers install no handler (os/signal costs each two threads), and
// SIGTERM would kill one without a word to its client.
func (w *worker) terminate() {
	w.conn.CloseWrite()
}

// bury waits for the worker to exit (the caller made sure it will), reaps
// it, kills what it left in its jail and waits for that to be gone, at
// most KillGrace. It reports whether processes were left behind.
func (w *worker) bury() (left bool) {
	<-w.exited
	w.mu.Lock()
	w.reaped = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cmd.Wait()
	w.m.reaper.forget(w.pid)
	if w.jail.leftovers() {
		left = true
		w.jail.kill()
		if !w.jail.wait(w.m.cfg.KillGrace) {
			w.m.log.Error("processes a worker left are still alive after SIGKILL: its slot is freed anyway",
				zap.Int("worker_pid", w.pid), zap.Stringer("jail", w.jail))
		}
	}
	w.jail.release()
	return left
}

// forget removes a buried worker from the master's books.
func (w *worker) forget() {
	w.conn.Close()
	w.m.mu.Lock()
	delete(w.m.workers, w)
	w.m.mu.Unlock()
	w.m.live.Add(-1)
}

// recvResult is one receive on the worker's socket: a report (Progress,
// Stats, OriginStats) or an error.
type recvResult struct {
	rep ipc.Report
	err error
}

// supervise follows the worker from its Hello to its grave.
//
// The master reaps a worker when the process exits (its pidfd), never on
// EOF alone: a worker may fork a child that keeps the socketpair open.
// When it exits, whatever it left in its jail is killed, and its slot is
// freed only once every process of the jail is gone.
//
// A worker that sent its Stats is done with the session, which is accounted
// for at once (session line, metrics, the duplicate-request key released);
// the process may still finish work the session started (a cache fill the
// client did not wait for, see fbtftp.Drainer), until it exits or the
// session deadline kills it, and holds its slot until then.
func (w *worker) supervise() {
	for w.await() && w.serve() {
	}
}

// await waits for the worker's next session: true once it is handed one,
// false when it died (or was abandoned) before, and is buried.
func (w *worker) await() bool {
	m := w.m
	handed := false
	select {
	case handed = <-w.dispatched:
	case <-w.exited:
		w.mu.Lock()
		state := w.state
		if state == stateIdle {
			w.state = stateDead // assign fails from now on
		}
		w.mu.Unlock()
		if state != stateIdle {
			handed = <-w.dispatched // dispatch has it: its verdict comes
		}
	}
	if !handed {
		w.bury()
		w.forget()
		w.mu.Lock()
		idle := w.handoff == nil
		w.mu.Unlock()
		m.removeIdle(w)
		if idle && !w.closed.Load() {
			m.obs.WorkerCrashed(false)
			m.log.Warn("idle worker died", zap.Int("worker_pid", w.pid), zap.Stringer("exit", w.cmd.ProcessState))
		}
		return false
	}
	return true
}

// serve supervises a worker that was handed a session. It returns true
// when the worker is reused: idle again, its session accounted and its
// slot given back; false once it is buried.
func (w *worker) serve() bool {
	m := w.m
	w.mu.Lock()
	ho, key, sent, sp, wait := w.handoff, w.key, w.sent, w.sp, w.wait
	w.mu.Unlock()
	msgs := make(chan recvResult, 1)
	go func() { // ends at EOF or when the supervisor closes the conn
		defer close(msgs)
		// Progress reports, then the Stats, then at most one
		// OriginStats (ipc), then nothing, or with Reuse one Ready, after
		// which the reader stops: what the worker says while idle is
		// dispatch's Pending check's to find.
		for {
			rep, err := w.conn.RecvReport()
			msgs <- recvResult{rep, err}
			if rep.Ready || err != nil && !errors.Is(err, ipc.ErrMalformed) {
				return
			}
		}
	}()
	var (
		got       bool // the session's Stats were accepted
		gotOrigin bool // and the OriginStats after them
		bad       bool // a violation: nothing more from this worker counts
		// origin requests the Stats reported: a fill they started may end
		// in the late report
		sessionRequests uint64
		lastErr         error
		eofTimer        *time.Timer
		ready           bool // a Ready after accepted Stats: the worker may be reused
	)
	violate := func(kind Violation, fields ...zap.Field) {
		m.violation(kind, w, fields...)
		bad = true
		w.kill()
	}
	handle := func(r recvResult) {
		rep := r.rep
		switch {
		case bad:
		case errors.Is(r.err, ipc.ErrMalformed):
			violate(ViolationMalformed, zap.Error(r.err))
		case r.err != nil:
			lastErr = r.err
		case rep.Progress != nil && got:
			violate(ViolationExtraMessage, zap.String("message", "progress"))
		case rep.Progress != nil && rep.Progress.SessionID != ho.SessionID:
			violate(ViolationEarlyMessage, zap.String("reported_session_id", rep.Progress.SessionID))
		case rep.Progress != nil:
			d, fixed, flood := w.progress(rep.Progress, ho, sent, time.Now())
			switch {
			case flood:
				violate(ViolationProgressRate)
				return
			case len(fixed) > 0:
				m.violation(ViolationImplausibleStats, w, zap.Strings("fields", fixed), zap.String("message", "progress"))
			}
			if !d.IsZero() {
				m.obs.SessionProgress(ho.Op, d)
			}
		case rep.Origin != nil && got && !gotOrigin:
			// Origin work after the session (a cache fill it did not
			// wait for): bounded like the Stats, then counted.
			gotOrigin = true
			if fixed := boundOrigin(rep.Origin, time.Since(sent), sessionRequests); len(fixed) > 0 {
				m.violation(ViolationImplausibleStats, w, zap.Strings("fields", fixed))
			}
			m.originWork(rep.Origin)
		case rep.Ready && got && ho.Reuse:
			ready = true // the reader has stopped
		case rep.Ready && got:
			// A Ready after a Handoff without Reuse.
			violate(ViolationExtraMessage, zap.String("message", "ready"))
		case rep.Ready:
			violate(ViolationEarlyMessage, zap.String("message", "ready"))
		case rep.Origin != nil || (rep.Stats != nil && got):
			// One Stats, then at most one OriginStats: anything else
			// after the Stats, or an OriginStats before them.
			violate(ViolationExtraMessage)
		case rep.Stats != nil && rep.Stats.SessionID != ho.SessionID:
			// Not the session handed over: Stats written before the
			// Handoff arrived (or a guess). Never accepted.
			violate(ViolationEarlyMessage, zap.String("reported_session_id", rep.Stats.SessionID))
		case rep.Stats != nil:
			got = true
			fixed := boundStats(rep.Stats, ho, w.pid, sent, time.Now())
			d, settled := w.settle(rep.Stats)
			fixed = append(fixed, settled...)
			if len(fixed) > 0 {
				m.violation(ViolationImplausibleStats, w, zap.Strings("fields", fixed))
			}
			sessionRequests = rep.Stats.Origin.Requests
			m.obs.SessionProgress(ho.Op, d)
			m.finish(rep.Stats, ho, wait, fixed)
			m.sessionEnded(key)
			m.retireSocket(sp)
		}
	}
	// Until the process exits: its messages, and EOF.
	exited := w.exited
	for exited != nil && !ready {
		select {
		case r, ok := <-msgs:
			if !ok {
				// EOF: the worker is done or closed its end; it gets
				// KillGrace to exit.
				msgs = nil
				eofTimer = time.AfterFunc(m.cfg.KillGrace, w.kill)
				continue
			}
			handle(r)
		case <-exited:
			exited = nil
		}
	}
	if eofTimer != nil {
		eofTimer.Stop()
	}
	if ready {
		sp.close() // the master's copy of a single-port socket goes with the session
		if !bad && w.recycle(key) {
			return true
		}
		msgs = nil // the reader has stopped
	}
	w.mu.Lock()
	w.state = stateDead
	w.mu.Unlock()
	if w.bury() {
		m.violation(ViolationLeftProcesses, w)
	}
	// Every process that could hold the worker's end is gone (unless one
	// escaped a process group): the reader sees what was queued (Stats
	// sent just before the exit), then EOF.
	if msgs != nil {
		grace := time.AfterFunc(m.cfg.KillGrace, func() { w.conn.Close() })
		for r := range msgs {
			handle(r)
		}
		grace.Stop()
	}
	w.forget()
	if !got {
		w.mu.Lock()
		killed := w.killed
		w.mu.Unlock()
		m.obs.WorkerCrashed(killed)
		st := crashStats(ho, w.pid)
		w.mu.Lock()
		w.live.over = true
		w.live.crashed(st)
		w.mu.Unlock()
		m.cleanupUpload(ho)
		m.log.Warn("worker crashed", zap.Int("worker_pid", w.pid), zap.String("session_id", ho.SessionID),
			zap.Stringer("exit", w.cmd.ProcessState), zap.Bool("killed_at_deadline", killed), zap.Error(lastErr))
		m.finish(st, ho, wait, nil)
		m.sessionEnded(key)
		m.retireSocket(sp)
	}
	sp.close()
	m.freeSlot(key)
	return false
}

// optionStrings renders options as "name=value" for the session line.
func optionStrings(opts []proto.Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.Name + "=" + o.Value
	}
	return out
}

// correctedField names the Stats fields the master had to correct, on the
// session line; nothing when there are none.
func correctedField(fields []string) zap.Field {
	if len(fields) == 0 {
		return zap.Skip()
	}
	return zap.Strings("stats_corrected", fields)
}

func crashStats(ho *ipc.Handoff, pid int) *stats.SessionStats {
	return &stats.SessionStats{
		SessionID: ho.SessionID, Peer: ho.Peer, Local: ho.Local, Filename: ho.Filename, Op: ho.Op, Mode: ho.Mode,
		WorkerPID: pid, OptionsRequested: ho.Options, Tsize: -1, Outcome: stats.OutcomeWorkerCrash,
		Start: ho.Received, Duration: time.Since(ho.Received),
	}
}

// finish accounts for a finished session: counters, the session log line
// and the callback. wait is the request's time in the admission queue
// (part of the handoff latency, which counts from the request's first
// datagram).
func (m *Master) finish(st *stats.SessionStats, ho *ipc.Handoff, wait time.Duration, corrected []string) {
	m.obs.SessionFinished(st)
	// The UEFI probe is normal: remember it, and name it in the line of
	// the download that follows.
	follows := zap.Skip()
	now := time.Now()
	if st.Outcome == stats.OutcomeProbe {
		m.probes.probed(st.Peer.Addr(), st.Filename, st.SessionID, now)
	} else if id, ok := m.probes.follows(st.Peer.Addr(), st.Filename, now); ok {
		follows = zap.String("follows_probe", id)
	}
	m.log.Info("session",
		zap.String("session_id", st.SessionID),
		zap.Stringer("op", st.Op),
		zap.Stringer("peer", st.Peer),
		zap.Stringer("local", st.Local),
		zap.String("file", st.Filename),
		zap.Stringer("mode", st.Mode),
		zap.Strings("options_requested", optionStrings(st.OptionsRequested)),
		zap.Strings("options_acked", optionStrings(st.OptionsAcked)),
		zap.String("outcome", string(st.Outcome)),
		zap.String("source", string(st.Source)),
		zap.Uint64("bytes", st.Bytes),
		zap.Int("blksize", st.Blksize),
		zap.Int("windowsize", st.Windowsize),
		zap.Int64("tsize", st.Tsize),
		zap.Uint64("packets_sent", st.PacketsSent),
		zap.Uint64("packets_received", st.PacketsReceived),
		zap.Uint64("retransmits", st.Retransmits),
		zap.Duration("rtt", st.RTT),
		zap.Uint16("error_code", uint16(st.ErrorCode)),
		zap.String("error_message", st.ErrorMessage),
		zap.Duration("duration", st.Duration),
		zap.Duration("handoff_latency", st.Start.Sub(ho.Received)),
		zap.Duration("queue_wait", wait),
		zap.Int("worker_pid", st.WorkerPID),
		follows,
		correctedField(corrected),
	)
	if m.cfg.OnSession != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					m.log.Error("session callback panicked", zap.Any("panic", p))
				}
			}()
			m.cfg.OnSession(st)
		}()
	}
}
