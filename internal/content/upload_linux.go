package content

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirFD is an open directory. Its methods take one path component (no
// slash) and never follow a symbolic link there; the directory itself was
// looked up inside the root (openDir), so nothing they touch is outside it.
type dirFD struct{ *os.File }

// openDir opens the directory rel below the root as Open looks files up:
// openat2(RESOLVE_IN_ROOT), or os.Root where openat2 does not exist.
func (s *FileStore) openDir(rel string) (dirFD, error) {
	const flags = os.O_RDONLY | unix.O_DIRECTORY | unix.O_NOCTTY
	f, err := openInRoot(s.dir, rel, flags)
	if errors.Is(err, errors.ErrUnsupported) {
		f, err = s.root.OpenFile(rel, flags, 0)
	}
	return dirFD{f}, err
}

func (d dirFD) fd() int { return int(d.Fd()) }

func (d dirFD) lstat(name string) (fileStat, error) {
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return fileStat{}, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return statOf(&st), nil
}

func (d dirFD) open(name string, flag int, perm uint32) (*os.File, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = unix.Openat(d.fd(), name, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		return err
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (d dirFD) rename(from, to string) error {
	if err := unix.Renameat(d.fd(), from, d.fd(), to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

func (d dirFD) remove(name string) error {
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// checkSticky refuses early what the rename would refuse at the end: in a
// sticky directory (mode +t, like /tmp) only the owner of a file, the owner
// of the directory or a privileged user may replace it.
func (d dirFD) checkSticky(target fileStat) error {
	ds, err := fstat(d.File)
	if err != nil || !ds.sticky {
		return nil
	}
	euid := uint32(os.Geteuid())
	if euid == 0 || ds.uid == euid || target.uid == euid {
		return nil
	}
	return denied(MsgStickyDir, nil)
}

func fstat(f *os.File) (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileStat{}, &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return statOf(&st), nil
}

func statOf(st *unix.Stat_t) fileStat {
	return fileStat{
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
		perm:    fs.FileMode(st.Mode & 0o777),
		sticky:  st.Mode&unix.S_ISVTX != 0,
		uid:     st.Uid,
		dev:     st.Dev,
		ino:     st.Ino,
	}
}

// tryLock takes an exclusive flock on f without waiting. It reports false
// when another open file description holds a lock on the file. The lock
// goes away when the last descriptor of f is closed, or its process dies.
func tryLock(f *os.File) (bool, error) {
	err := ignoringEINTR(func() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) })
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}
