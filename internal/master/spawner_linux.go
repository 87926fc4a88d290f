package master

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// A spawner starts workers whose sandbox the master applies at exec
// (Config.SandboxAtExec): chroot and user through SysProcAttr,
// no_new_privs inherited from the starting thread. It owns one OS thread,
// kept for it alone, that
//
//   - has its own file system context (unshare CLONE_FS) whose working
//     directory is the worker binary's directory: the child chroots, then
//     execs "./fbtftp-worker", which resolves against that directory,
//     outside the new root (Go has no fexecve; the worker changes to its
//     root before anything else, see sandbox.Spec.AtExec);
//   - has no_new_privs set, which every child it forks inherits, and
//     exec keeps.
//
// The master's other threads keep their directory and privileges.
type spawner struct {
	reqs chan func()
	exe  string // "./" + the worker binary's name
}

// newSpawner starts the spawner's thread for the worker binary path.
func newSpawner(path string) (*spawner, error) {
	s := &spawner{reqs: make(chan func()), exe: "./" + filepath.Base(path)}
	dir := filepath.Dir(path)
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, and no other
		// goroutine ever runs in its file system context.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			ready <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			ready <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			ready <- fmt.Errorf("no_new_privs: %w", err)
			return
		}
		ready <- nil
		for fn := range s.reqs {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return s, nil
}

// do runs fn on the spawner's thread and returns when it has.
func (s *spawner) do(fn func()) {
	done := make(chan struct{})
	s.reqs <- func() {
		defer close(done)
		fn()
	}
	<-done
}

// command returns the command starting the worker from the spawner's
// directory, with the chroot and user of the spec applied at exec.
func (s *spawner) command(m *Master) *exec.Cmd {
	cmd := exec.Command(s.exe, m.cfg.WorkerArgs...)
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	m.execSpec.ExecAttr(cmd.SysProcAttr)
	return cmd
}

// close ends the spawner's thread; do must not be called afterwards.
func (s *spawner) close() { close(s.reqs) }
