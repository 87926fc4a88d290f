package master

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/fbtftp-go/fbtftp/internal/ipc"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
)

type workerState int

const (
	stateIdle workerState = iota // ready, waiting for a Handoff
	stateBusy                    // serving a session
	stateDead                    // exited (or exiting)
)

// worker is one worker process. Its supervising goroutine owns it: it reads
// the Stats, reaps the process and does the accounting.
type worker struct {
	m    *Master
	cmd  *exec.Cmd
	conn *ipc.Conn // the master's end of the socketpair; owned by the supervisor
	pid  int
	gen  uint64 // Master.gen when it was started

	mu      sync.Mutex
	state   workerState
	handoff *ipc.Handoff // the session, while busy
	key     sessionKey
	timer   *time.Timer // session deadline
	killed  bool        // by the deadline timer
	closed  atomic.Bool // the master closed an idle worker on purpose
	done    chan struct{}
}

// spawn starts a worker and waits for its Hello (it is then sandboxed and
// ready). The supervisor goroutine starts with it.
func (m *Master) spawn() (*worker, error) {
	gen := m.gen.Load()
	conn, wf, err := ipc.Socketpair()
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	cmd := exec.Command(m.cfg.WorkerPath, m.cfg.WorkerArgs...)
	cmd.ExtraFiles = []*os.File{wf} // becomes fd 3 (ipc.WorkerFD)
	cmd.Env = append(append(os.Environ(), m.cfg.WorkerEnv...), m.cfg.Sandbox.Env()...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	wf.Close() // the child has its copy
	if err != nil {
		conn.Close()
		m.obs.WorkerFailed()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	m.live.Add(1)
	t0 := time.Now()
	w := &worker{m: m, cmd: cmd, conn: conn, pid: cmd.Process.Pid, gen: gen, done: make(chan struct{})}
	hello, err := conn.RecvHello(time.Now().Add(m.cfg.HelloTimeout))
	if err == nil && int(hello.PID) != w.pid {
		err = fmt.Errorf("hello from pid %d, started pid %d", hello.PID, w.pid)
	}
	if err != nil {
		m.obs.WorkerFailed()
		w.kill()
		conn.Close()
		cmd.Wait()
		m.live.Add(-1)
		return nil, fmt.Errorf("worker %d not ready: %w", w.pid, err)
	}
	m.obs.WorkerStarted(time.Since(t0))
	m.mu.Lock()
	m.workers[w] = struct{}{}
	m.mu.Unlock()
	m.workWG.Go(w.supervise)
	return w, nil
}

// assign marks an idle worker busy with a session; false if it is dead.
func (w *worker) assign(ho *ipc.Handoff, key sessionKey) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != stateIdle {
		return false
	}
	w.state, w.handoff, w.key = stateBusy, ho, key
	return true
}

// unassign undoes assign after a failed handoff: no session happened.
func (w *worker) unassign() {
	w.mu.Lock()
	w.handoff = nil
	w.mu.Unlock()
}

// startDeadline kills the worker if its session outlives d.
func (w *worker) startDeadline(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == stateDead {
		return
	}
	w.timer = time.AfterFunc(d, func() {
		w.mu.Lock()
		dead := w.state == stateDead
		w.mu.Unlock()
		if !dead {
			w.mu.Lock()
			w.killed = true
			w.mu.Unlock()
			w.m.log.Warn("session deadline passed: killing worker", zap.Int("worker_pid", w.pid))
			w.kill()
		}
	})
}

// close closes the master's end: an idle worker sees EOF and exits.
func (w *worker) close() {
	w.closed.Store(true)
	w.conn.Close()
}

func (w *worker) kill()      { w.cmd.Process.Signal(syscall.SIGKILL) }
func (w *worker) terminate() { w.cmd.Process.Signal(syscall.SIGTERM) }

// supervise waits for the worker's Stats (or EOF), reaps it and accounts
// for its session.
//
// A worker that sent its Stats is done with the session, which is accounted
// for at once (session line, metrics, the duplicate-request key released);
// the process may still finish work the session started (a cache fill the
// client did not wait for, see fbtftp.Drainer). The master keeps its end
// open and lets it run until it exits, or until the session deadline timer
// kills it.
func (w *worker) supervise() {
	m := w.m
	st, err := w.conn.RecvStats()
	w.mu.Lock()
	ho, key, busy, killed := w.handoff, w.key, w.state == stateBusy, w.killed
	lingering := err == nil && busy && ho != nil
	if !lingering {
		w.state = stateDead
		if w.timer != nil {
			w.timer.Stop()
		}
	}
	w.mu.Unlock()
	if lingering {
		// The worker is untrusted: identity fields come from the handoff.
		st.SessionID, st.Peer, st.Local, st.Filename, st.Op = ho.SessionID, ho.Peer, ho.Local, ho.Filename, ho.Op
		st.WorkerPID = w.pid
		m.finish(st, ho)
		m.release(key)
		// The origin work the worker does after the session (optional);
		// EOF when it exits without. The deadline timer bounds the wait.
		if o, err := w.conn.RecvOriginStats(); err == nil {
			m.originWork(o)
		}
		w.cmd.Wait() // the deadline timer bounds it
		close(w.done)
		w.mu.Lock()
		w.state = stateDead
		if w.timer != nil {
			w.timer.Stop()
		}
		w.mu.Unlock()
		w.conn.Close()
		w.forget()
		return
	}
	w.conn.Close()
	w.reap()
	w.forget()
	if !busy {
		if err != nil && !w.closed.Load() {
			m.obs.WorkerCrashed(false)
			m.log.Warn("idle worker died", zap.Int("worker_pid", w.pid), zap.Error(err))
		}
		return
	}
	defer m.release(key)
	if ho == nil {
		return // the handoff failed; dispatch retried elsewhere
	}
	m.obs.WorkerCrashed(killed)
	st = crashStats(ho, w.pid)
	m.cleanupUpload(ho)
	m.log.Warn("worker crashed", zap.Int("worker_pid", w.pid), zap.String("session_id", ho.SessionID),
		zap.Stringer("exit", w.cmd.ProcessState), zap.Error(err))
	m.finish(st, ho)
}

// forget removes a reaped worker from the master's books.
func (w *worker) forget() {
	w.m.mu.Lock()
	delete(w.m.workers, w)
	w.m.mu.Unlock()
	w.m.live.Add(-1)
}

// reap waits for the process. EOF or Stats means it is exiting on its own;
// it gets KillGrace before SIGKILL.
func (w *worker) reap() {
	go func() {
		select {
		case <-w.done:
		case <-time.After(w.m.cfg.KillGrace):
			w.kill()
		}
	}()
	w.cmd.Wait()
	close(w.done)
}

// optionStrings renders options as "name=value" for the session line.
func optionStrings(opts []proto.Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.Name + "=" + o.Value
	}
	return out
}

func crashStats(ho *ipc.Handoff, pid int) *stats.SessionStats {
	return &stats.SessionStats{
		SessionID: ho.SessionID, Peer: ho.Peer, Local: ho.Local, Filename: ho.Filename, Op: ho.Op, Mode: ho.Mode,
		WorkerPID: pid, OptionsRequested: ho.Options, Tsize: -1, Outcome: stats.OutcomeWorkerCrash,
		Start: ho.Received, Duration: time.Since(ho.Received),
	}
}

// finish accounts for a finished session: counters, the session log line
// and the callback.
func (m *Master) finish(st *stats.SessionStats, ho *ipc.Handoff) {
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
		zap.Uint16("error_code", uint16(st.ErrorCode)),
		zap.String("error_message", st.ErrorMessage),
		zap.Duration("duration", st.Duration),
		zap.Duration("handoff_latency", st.Start.Sub(ho.Received)),
		zap.Int("worker_pid", st.WorkerPID),
		follows,
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
