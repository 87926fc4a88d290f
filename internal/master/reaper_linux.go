package master

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// The orphan reaper makes the process a child subreaper
// (PR_SET_CHILD_SUBREAPER): the processes a worker leaves behind are
// re-parented to the master instead of init, and the master reaps every
// child that is not a worker (whose supervisor reaps it). Without it, a
// worker's orphans are init's to reap: where init does not (a container
// whose first process is not an init), they stay zombies, and a process
// group holding a zombie never looks empty.
//
// It is on while a Master with Config.ReapOrphans runs, or when the
// process is PID 1 (orphans come to it anyway). It reaps children the
// master did not start, so a program that starts other children must not
// turn it on. Being a subreaper is a property of the process, so the
// reaper is one per process: every Master registers its workers with it,
// whether it asked for the reaper or not, and a worker is never taken for
// an orphan.
var reaper = struct {
	// starting is held for reading from a worker's Start until its pid is
	// in workers, and for writing while reaping.
	starting sync.RWMutex

	mu      sync.Mutex
	workers map[int]struct{} // pids of workers started and not reaped
	users   int              // running Masters that want the reaper
	stop    chan struct{}    // ends the reaping goroutine
	done    chan struct{}    // closed when it has ended
	poke    chan struct{}
}{workers: map[int]struct{}{}, poke: make(chan struct{}, 1)}

// orphanReaper is a Master's handle on the process's reaper.
type orphanReaper struct {
	log  *zap.Logger
	want bool // Config.ReapOrphans, or PID 1
	on   bool // this Master holds the reaper
}

func newOrphanReaper(want bool, log *zap.Logger) *orphanReaper {
	return &orphanReaper{log: log, want: want || os.Getpid() == 1}
}

// run starts the reaper for this Master (if it wants one), until stop.
func (r *orphanReaper) run() {
	if !r.want {
		return
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if reaper.users == 0 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil && os.Getpid() != 1 {
			r.log.Warn("cannot become a child subreaper: orphans of workers go to init", zap.Error(err))
			return
		}
		reaper.stop, reaper.done = make(chan struct{}), make(chan struct{})
		go reapLoop(reaper.stop, reaper.done, r.log)
	}
	reaper.users++
	r.on = true
}

// stop releases the reaper; the last Master ends it, and the process is no
// longer a subreaper (unless it is PID 1).
func (r *orphanReaper) stop() {
	if !r.on {
		return
	}
	r.on = false
	reaper.mu.Lock()
	reaper.users--
	last := reaper.users == 0
	stop, done := reaper.stop, reaper.done
	reaper.mu.Unlock()
	if !last {
		return
	}
	close(stop)
	<-done
	// Orphans of the last workers that exited meanwhile: re-parented to
	// this process, they would stay its zombies.
	reapOrphans(r.log)
	if os.Getpid() != 1 {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
}

// start runs startFn (which starts a worker and returns its pid, 0 if it
// failed) so that the reaper cannot take the new worker for an orphan.
func (r *orphanReaper) start(startFn func() int) {
	reaper.starting.RLock()
	defer reaper.starting.RUnlock()
	if pid := startFn(); pid > 0 {
		reaper.mu.Lock()
		reaper.workers[pid] = struct{}{}
		reaper.mu.Unlock()
	}
}

// forget removes a reaped worker and looks for orphans the worker's zombie
// may have hidden from the last scan.
func (r *orphanReaper) forget(pid int) {
	reaper.mu.Lock()
	delete(reaper.workers, pid)
	reaper.mu.Unlock()
	select {
	case reaper.poke <- struct{}{}:
	default:
	}
}

// reapLoop reaps orphans on every SIGCHLD until stop is closed.
func reapLoop(stop, done chan struct{}, log *zap.Logger) {
	defer close(done)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	for {
		reapOrphans(log)
		select {
		case <-stop:
			return
		case <-sig:
		case <-reaper.poke:
		}
	}
}

// siPidOffset is the offset of si_pid in a siginfo_t: after three int32s,
// at the alignment of the union that follows (a pointer's).
const siPidOffset = (12 + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)

// reapOrphans reaps every exited child that is not a worker.
// waitid(WNOWAIT) shows one exited child at a time; a worker's zombie,
// which its supervisor reaps, stops the scan until forget pokes the loop.
// Worker starts are held off only while an orphan is reaped.
func reapOrphans(log *zap.Logger) {
	for range 4096 {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			return
		}
		pid := int(*(*int32)(unsafe.Add(unsafe.Pointer(&info), siPidOffset)))
		if info.Signo == 0 || pid <= 0 || isWorker(pid) {
			return // no exited child, or a worker: its supervisor reaps it
		}
		// A worker started a moment ago may not be registered yet: with
		// starting held, every started worker is.
		reaper.starting.Lock()
		worker := isWorker(pid)
		if !worker {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		reaper.starting.Unlock()
		if worker {
			return
		}
		if ce := log.Check(zap.DebugLevel, "reaped an orphan"); ce != nil {
			ce.Write(zap.Int("pid", pid))
		}
	}
}

func isWorker(pid int) bool {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	_, ok := reaper.workers[pid]
	return ok
}

// StartChild runs start, which starts a child process that is not a
// worker (a new master during an upgrade) and returns its pid (0 if it
// failed), so that the orphan reaper of a running Master never reaps it:
// the caller waits for it, then calls ChildDone. It is needed because the
// reaper reaps every child it does not know.
func StartChild(start func() int) { (&orphanReaper{}).start(start) }

// ChildDone forgets a child started with StartChild, once the caller has
// reaped it (or left it to live on after this process exits).
func ChildDone(pid int) { (&orphanReaper{}).forget(pid) }
