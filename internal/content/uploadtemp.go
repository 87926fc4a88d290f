package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// The temporary file of an upload: its name, reserved in every directory,
// its lock (flock: the sign of a live upload), and the cleanup of one a
// crashed worker left.

// tempSuffix marks the temporary files of uploads; names ending in it
// (or starting with tempHashPrefix) are reserved and cannot be uploaded to.
const (
	tempSuffix     = ".fbtftp-upload"
	tempHashPrefix = ".fbtftp-upload."
	maxNameLen     = 255 // NAME_MAX
)

// TempName returns the name of the temporary file an upload of the file
// base (a name without a slash) writes to, in the same directory:
// ".BASE.fbtftp-upload", or ".fbtftp-upload.HASH" when that would be too
// long for a directory entry. The name is the same for every upload of the
// file: it doubles as the upload's lock (see Upload) and lets the master
// find what a crashed worker left behind.
func TempName(base string) string {
	if n := "." + base + tempSuffix; len(n) <= maxNameLen {
		return n
	}
	sum := sha256.Sum256([]byte(base))
	return tempHashPrefix + hex.EncodeToString(sum[:20])
}

// isTempName reports whether base is reserved for temporary files.
func isTempName(base string) bool {
	return strings.HasPrefix(base, ".") && (strings.HasSuffix(base, tempSuffix) || strings.HasPrefix(base, tempHashPrefix))
}

// IsUploadTemp reports whether the requested name refers to an upload's
// temporary file. The stock handler answers downloads of such names with
// ERROR 1, as it cannot tell a finished file from one being written.
func IsUploadTemp(name string) bool {
	rel, err := Clean(name)
	return err == nil && isTempName(path.Base(rel))
}

// errRetry means the temporary file changed under us: look again.
var errRetry = errors.New("temporary file changed")

// acquireTemp creates and locks the temporary file tmp in dir, removing one
// a dead upload left behind. A live upload's file gives MsgBusy.
func acquireTemp(dir dirFD, tmp string) (*os.File, error) {
	for range 8 {
		f, err := dir.open(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOCTTY, 0o600)
		if err == nil {
			locked, lerr := tryLock(f)
			if lerr == nil && locked {
				if same, serr := sameFile(dir, tmp, f); serr == nil && same {
					return f, nil
				}
			}
			// Someone took our fresh file for a stale one and is removing
			// it, or already has: try again.
			f.Close()
			if lerr != nil {
				return nil, fmt.Errorf("lock %s: %w", tmp, lerr)
			}
			continue
		}
		switch {
		case errors.Is(err, fs.ErrExist):
		case errors.Is(err, fs.ErrPermission):
			// Coded as a refused open (MapOpenError), as tftpd-hpa's
			// failed open(O_CREAT) would be.
			return nil, fmt.Errorf("%w: %w: %w", ErrDirNotWritable, MapOpenError(err), err)
		default:
			return nil, MapWriteError("create temporary file", err)
		}
		removed, err := removeStale(dir, tmp)
		switch {
		case errors.Is(err, errRetry):
			continue
		case err != nil:
			return nil, err
		case !removed:
			return nil, denied(MsgBusy, nil)
		}
	}
	return nil, denied(MsgBusy, errors.New("temporary file keeps changing"))
}

// removeStale removes the temporary file tmp in dir if no upload holds its
// lock. It reports false when one does, and errRetry when the name is gone
// or changed while it looked.
func removeStale(dir dirFD, tmp string) (bool, error) {
	st, err := dir.lstat(tmp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, errRetry
	case err != nil:
		return false, MapOpenError(err)
	case !st.regular:
		// Not ours: someone put a link or a directory there.
		return false, denied(MsgNotRegular, fmt.Errorf("%s is not a regular file", tmp))
	}
	g, err := dir.open(tmp, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, errRetry
	}
	if err != nil {
		return false, MapOpenError(err)
	}
	defer g.Close()
	locked, err := tryLock(g)
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", tmp, err)
	}
	if !locked {
		return false, nil // a live upload
	}
	if same, err := sameFile(dir, tmp, g); err != nil || !same {
		return false, errRetry
	}
	if err := dir.remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, MapWriteError("remove stale temporary file", err)
	}
	return true, nil
}

// sameFile reports whether name in dir is the open file f.
func sameFile(dir dirFD, name string, f *os.File) (bool, error) {
	a, err := fstat(f)
	if err != nil {
		return false, err
	}
	b, err := dir.lstat(name)
	if err != nil {
		return false, err
	}
	return a.dev == b.dev && a.ino == b.ino, nil
}

// RemoveStaleUpload removes the temporary file an upload of name (as the
// client sent it) left under root, if no live upload holds its lock. The
// master calls it, outside the chroot, after a worker serving a WRQ died
// without cleaning up; the directory is looked up as the worker does,
// links resolved inside root. It reports whether a file was removed; a
// name that cannot be an upload target is not an error.
func RemoveStaleUpload(root, name string) (bool, error) {
	rel, err := Clean(name)
	if err != nil || rel == "." {
		return false, nil
	}
	dirName, base := path.Split(rel)
	if dirName == "" {
		dirName = "."
	}
	s, err := OpenFileStore(root, false)
	if err != nil {
		return false, err
	}
	defer s.Close()
	dir, err := s.openDir(dirName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return false, nil
		}
		return false, err
	}
	defer dir.Close()
	tmp := TempName(base)
	for range 4 {
		removed, err := removeStale(dir, tmp)
		if !errors.Is(err, errRetry) {
			return removed, err
		}
		if _, err := dir.lstat(tmp); errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
	}
	return false, nil
}
