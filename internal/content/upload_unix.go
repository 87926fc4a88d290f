//go:build unix

package content

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// tryLock takes an exclusive flock on f without waiting. It reports false
// when another open file description holds a lock on the file. The lock
// goes away when the last descriptor of f is closed, or its process dies.
func tryLock(f *os.File) (bool, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if lerr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if errors.Is(lerr, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return lerr == nil, lerr
}

// checkSticky refuses early what the rename would refuse at the end: in a
// sticky directory (mode +t, like /tmp) only the owner of a file, the owner
// of the directory or a privileged user may replace it.
func checkSticky(dir *os.Root, target fs.FileInfo) error {
	di, err := dir.Stat(".")
	if err != nil || di.Mode()&fs.ModeSticky == 0 {
		return nil
	}
	euid := uint32(os.Geteuid())
	ds, ok1 := di.Sys().(*syscall.Stat_t)
	ts, ok2 := target.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 || euid == 0 || ds.Uid == euid || ts.Uid == euid {
		return nil
	}
	return denied(MsgStickyDir, nil)
}
