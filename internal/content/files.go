package content

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Messages sent with refusals. They follow tftpd-hpa's texts where it has
// one for the same case.
const (
	MsgReversePath  = "Reverse path not allowed"
	MsgNotRegular   = "Not a regular file"
	MsgWorldRead    = "File must have global read permissions"
	MsgEscapes      = "Path escapes the root"
	MsgPermission   = "Permission denied"
	MsgBadFilename  = "Invalid filename"
	MsgTooManyLinks = "Too many levels of symbolic links"
)

// FileStore serves files under one directory. Nothing outside it can be
// reached: names with a ".." component are refused, and the kernel resolves
// the rest inside the root (openat2 with RESOLVE_IN_ROOT): a symbolic link
// is followed as if the root were "/", exactly as inside in.tftpd's chroot,
// so an absolute link to "/pxelinux.0" finds the root's file and a link
// pointing outside finds nothing (ERROR 1). Where openat2 is unavailable
// the lookup goes through os.Root, which refuses links that leave the root
// (ERROR 2).
type FileStore struct {
	root *os.Root
	dir  *os.File // the root directory, for openat2
	// Permissive skips the world-readable check (in.tftpd -p): the
	// worker's user permissions alone decide.
	Permissive bool
}

// OpenFileStore opens dir as the root of a FileStore.
func OpenFileStore(dir string, permissive bool) (*FileStore, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	d, err := os.Open(dir)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &FileStore{root: r, dir: d, Permissive: permissive}, nil
}

// Close releases the root directory.
func (s *FileStore) Close() error {
	s.dir.Close()
	return s.root.Close()
}

// Clean turns a requested filename into a path relative to the root:
// leading slashes are removed (in a chroot "/x" and "x" are the same file,
// as with in.tftpd -s), empty components and "." are dropped. A ".."
// component is refused with ERROR 2.
func Clean(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgBadFilename}
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgReversePath}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return ".", nil
	}
	return strings.Join(out, "/"), nil
}

// Open opens name for reading. Errors carry TFTP codes: ERROR 1 for a
// missing file (ENOENT, ENOTDIR), ERROR 2 for a path that escapes the
// root, a permission problem, a file that is not world-readable (unless
// Permissive) or anything that is not a regular file (directories, FIFOs,
// devices: refused, never opened in a way that could block).
func (s *FileStore) Open(name string) (*os.File, error) {
	rel, err := Clean(name)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO must not hang the session; it has no
	// effect on regular files.
	f, err := openInRoot(s.dir, rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY)
	if errors.Is(err, errors.ErrUnsupported) {
		f, err = s.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, MapOpenError(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgNotRegular}
	}
	if !s.Permissive && fi.Mode().Perm()&0o004 == 0 {
		f.Close()
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgWorldRead}
	}
	return f, nil
}

// MapOpenError gives an open error its TFTP code (errno mapping as in.tftpd).
func MapOpenError(err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENAMETOOLONG):
		return &tftp.Error{Code: tftp.CodeNotFound, Message: tftp.CodeNotFound.String()}
	case errors.Is(err, fs.ErrPermission):
		return &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgPermission}
	case errors.Is(err, syscall.ELOOP):
		return &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgTooManyLinks}
	case errors.As(err, &errno):
		return fmt.Errorf("open: %w", err)
	}
	// os.Root reports a path that leaves the root with its own error text.
	if strings.Contains(err.Error(), "escapes") {
		return &tftp.Error{Code: tftp.CodeAccessViolation, Message: MsgEscapes}
	}
	return fmt.Errorf("open: %w", err)
}
