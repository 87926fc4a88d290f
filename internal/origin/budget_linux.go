package origin

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// allocated returns the bytes the file system allocated to the file (its
// st_blocks), which include a reservation past its size.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return 0
}

// allocate reserves n bytes at off in f without changing its size
// (fallocate FALLOC_FL_KEEP_SIZE), so that other processes' scans count
// them and a full file system fails now. A file system that cannot
// preallocate is not an error: the bytes are then counted as written.
func allocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, n)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
			return nil
		}
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
}

// trimReservation gives back what f reserved past its size (a fill of
// unknown size reserves ahead).
func trimReservation(f *os.File, size, reserved int64) {
	if reserved > size {
		unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, size, reserved-size)
	}
}
