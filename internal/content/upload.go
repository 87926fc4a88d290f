package content

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Messages sent with upload refusals; tftpd-hpa's text where it has one.
const (
	MsgWorldWrite = "File must have global write permissions" // tftpd.c validate_access
	MsgBusy       = "File is being written by another upload"
	MsgReadOnlyFS = "Read-only file system"
	MsgStickyDir  = "Cannot replace another user's file in a sticky directory"
)

// ErrDirNotWritable is wrapped by the error Upload returns when the
// temporary file cannot be created because the worker's user may not write
// the target's directory (in.tftpd -u): unlike tftpd-hpa, which writes into
// the file in place, an atomic upload needs that permission.
var ErrDirNotWritable = errors.New("the upload directory is not writable by the worker's user")

// UploadOptions are the tftpd-hpa settings that govern uploads.
type UploadOptions struct {
	// Create lets an upload create a missing file (in.tftpd -c).
	Create bool
	// Umask is cleared from 0666 to give a created file its mode
	// (in.tftpd -U).
	Umask fs.FileMode
}

// denied is an access violation with msg for the client and the cause for
// the logs.
func denied(msg string, cause error) error {
	return &tftp.Error{Code: tftp.CodeAccessViolation, Message: msg, Err: cause}
}

// MapWriteError gives an error from creating, writing, syncing or renaming
// an upload its TFTP code: ENOSPC, EDQUOT and EFBIG are ERROR 3 "Disk full or
// allocation exceeded" (tftpd-hpa's text), a permission problem or a
// read-only file system ERROR 2; anything else keeps no code (ERROR 0).
func MapWriteError(op string, err error) error {
	switch {
	case errors.As(err, new(*tftp.Error)):
		return err
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return &tftp.Error{Code: tftp.CodeDiskFull, Err: fmt.Errorf("%s: %w", op, err)}
	case errors.Is(err, syscall.EROFS):
		return denied(MsgReadOnlyFS, fmt.Errorf("%s: %w", op, err))
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w: %w", op, MapOpenError(err), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Upload is an upload in progress: the data goes to a temporary file next
// to the target, which Commit publishes with a rename and Abort removes.
// Until then the target is untouched, and a download sees either the old or
// the new content, never a mix.
//
// The temporary file (TempName) is created with O_EXCL and mode 0600 and
// locked with flock(LOCK_EX) for the whole upload; its fixed name makes it
// the upload's lock. A second upload of the same file finds it locked and
// is refused with ERROR 2 (MsgBusy). One found unlocked was left by a
// worker that died: it is removed and the upload goes on. Whoever removes
// or renames the file holds the lock and first checks that the name still
// refers to the locked file, so two parties never both think they own it.
type Upload struct {
	dir  dirFD    // the target's directory; all names below are in it
	name string   // the target
	tmp  string   // the temporary file
	f    *os.File // the temporary file, open and locked
	mode fs.FileMode
	// Permissive as in the FileStore, for the check before the rename.
	permissive bool
	done       bool // committed or aborted
}

// Upload starts an upload of name under the store's root, with tftpd-hpa's
// rules (tftpd.c validate_access, in -s mode):
//   - the name is cleaned as for Open; ".." is refused with ERROR 2; the
//     directory is looked up as Open does (symbolic links resolved inside
//     the root);
//   - a missing directory component is ERROR 1 (ENOENT, ENOTDIR);
//   - an existing target must be a regular file (not a directory, device or
//     symbolic link: ERROR 2 MsgNotRegular), the worker's user must be able
//     to open it for writing (else as MapOpenError: "Permission denied") and,
//     unless Permissive, it must be world-writable (ERROR 2 MsgWorldWrite).
//     The new file keeps the old one's permission bits;
//   - a missing target is created only with opts.Create (else ERROR 1
//     "File not found"), with mode 0666 &^ opts.Umask; unless Permissive,
//     that mode must be world-writable too (ERROR 2 MsgWorldWrite), as
//     tftpd-hpa checks the file it has just created;
//   - names reserved for temporary files are refused with ERROR 2.
//
// Differences from tftpd-hpa, which truncates and writes the file in place:
// the directory must be writable by the worker's user (the error then
// wraps ErrDirNotWritable), the published file is a new inode owned by that
// user (hard links to the old file keep the old content), a symbolic link
// is not written through, and in a sticky directory another user's file
// cannot be replaced (ERROR 2 MsgStickyDir).
func (s *FileStore) Upload(name string, opts UploadOptions) (*Upload, error) {
	rel, err := Clean(name)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, denied(MsgNotRegular, nil)
	}
	dirName, base := path.Split(rel)
	if dirName == "" {
		dirName = "."
	}
	if isTempName(base) {
		return nil, denied(MsgBadFilename, nil)
	}
	dir, err := s.openDir(dirName)
	if err != nil {
		return nil, MapOpenError(err)
	}
	u := &Upload{dir: dir, name: base, tmp: TempName(base), permissive: s.Permissive}
	if err := u.start(opts); err != nil {
		dir.Close()
		return nil, err
	}
	return u, nil
}

// start checks the target and creates the locked temporary file.
func (u *Upload) start(opts UploadOptions) error {
	st, err := u.dir.lstat(u.name)
	switch {
	case err == nil:
		if !st.regular {
			// Never open a FIFO or a device, nor write through a link.
			return denied(MsgNotRegular, nil)
		}
		// As tftpd-hpa: open the file O_WRONLY first, so the user's own
		// permissions (mode, ACLs, a read-only mount, immutable files)
		// decide before the world-writable check.
		f, err := u.dir.open(u.name, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
		if err != nil {
			if errors.Is(err, syscall.EROFS) {
				return denied(MsgReadOnlyFS, err)
			}
			return MapOpenError(err)
		}
		st, err = fstat(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("stat %s: %w", u.name, err)
		}
		if err := u.checkTarget(st); err != nil {
			return err
		}
		if err := u.dir.checkSticky(st); err != nil {
			return err
		}
		u.mode = st.perm
	case errors.Is(err, fs.ErrNotExist):
		if !opts.Create {
			return &tftp.Error{Code: tftp.CodeNotFound, Err: err}
		}
		u.mode = 0o666 &^ opts.Umask.Perm()
		// tftpd-hpa creates the file, then applies the world-writable
		// check to it: without -p, a umask that clears o+w refuses every
		// new file. (It also leaves the empty file behind; we create
		// nothing.)
		if !u.permissive && u.mode&0o002 == 0 {
			return denied(MsgWorldWrite, nil)
		}
	default:
		return MapOpenError(err)
	}
	f, err := acquireTemp(u.dir, u.tmp)
	if err != nil {
		return err
	}
	u.f = f
	return nil
}

// checkTarget applies the rules for an existing target.
func (u *Upload) checkTarget(st fileStat) error {
	if !st.regular {
		return denied(MsgNotRegular, nil)
	}
	if !u.permissive && st.perm&0o002 == 0 {
		return denied(MsgWorldWrite, nil)
	}
	return nil
}

// Write appends p to the temporary file.
func (u *Upload) Write(p []byte) (int, error) {
	if u.done {
		return 0, errors.New("write after the upload finished")
	}
	n, err := u.f.Write(p)
	if err != nil {
		return n, MapWriteError("write", err)
	}
	return n, nil
}

// Commit publishes the upload: it gives the temporary file its final mode,
// flushes data and mode to disk (fsync), checks the target once more (it
// may have changed during the transfer), renames the temporary file over
// it and syncs the directory. On error the target is untouched; call Abort.
func (u *Upload) Commit() error {
	if u.done {
		return errors.New("commit after the upload finished")
	}
	if err := u.f.Chmod(u.mode); err != nil {
		return MapWriteError("chmod", err)
	}
	if err := u.f.Sync(); err != nil {
		return MapWriteError("fsync", err)
	}
	if st, err := u.dir.lstat(u.name); err == nil {
		if err := u.checkTarget(st); err != nil {
			return err
		}
	}
	// We hold the lock, so the name is still ours.
	if err := u.dir.rename(u.tmp, u.name); err != nil {
		return MapWriteError("rename", err)
	}
	u.done = true
	// The rename is durable once the directory is: best effort, some
	// file systems do not sync directories.
	u.dir.Sync()
	u.f.Close() // releases the lock
	u.dir.Close()
	return nil
}

// Abort discards the upload: the temporary file is removed, the target is
// left as it was. It does nothing after Commit or a previous Abort.
func (u *Upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	err := u.dir.remove(u.tmp) // still locked: the name is ours
	u.f.Close()
	u.dir.Close()
	if err != nil {
		return fmt.Errorf("remove temporary file: %w", err)
	}
	return nil
}

// fileStat is what the upload rules need to know about a file.
type fileStat struct {
	regular  bool
	perm     fs.FileMode // permission bits
	sticky   bool
	uid      uint32
	dev, ino uint64
}
