package content

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openInRoot opens rel below dir with openat2(RESOLVE_IN_ROOT): ".." and
// absolute symbolic links are resolved as if dir were "/", so nothing
// outside dir can be reached, whatever the links say. It returns an error
// wrapping errors.ErrUnsupported where openat2 does not exist (Linux < 5.6).
func openInRoot(dir *os.File, rel string, flags int) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	var err error
	// EINTR, or EAGAIN when a concurrent rename raced the lookup: retry a
	// few times.
	for range 4 {
		var fd int
		fd, err = unix.Openat2(int(dir.Fd()), rel, &how)
		if err == nil {
			return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), rel)), nil
		}
		if err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	if err == unix.ENOSYS {
		return nil, errors.ErrUnsupported
	}
	return nil, &os.PathError{Op: "openat2", Path: rel, Err: err}
}
