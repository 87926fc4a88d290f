package ipc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// sealsAll are the seals a WorkerConfig's memfd carries: no write, no size
// change, no further seal change.
const sealsAll = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// SealWorkerConfig returns a sealed memfd holding c's encoding
// (close-on-exec; give it to workers as exec.Cmd.ExtraFiles[1]). The
// caller owns it. Once sealed, nobody can change it: a worker reads what
// the master checked.
func SealWorkerConfig(c *WorkerConfig) (*os.File, error) {
	b, err := AppendWorkerConfig(nil, c)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("fbtftp-worker-config", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("ipc: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "fbtftp-worker-config")
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: worker configuration: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sealsAll); err != nil {
		f.Close()
		return nil, fmt.Errorf("ipc: sealing the worker configuration: %w", err)
	}
	return f, nil
}

// ReadWorkerConfig reads and closes the worker's configuration on
// descriptor fd, normally ConfigFD. The descriptor must be a sealed memfd
// (anything else, as in a process not started by the master, is an error
// wrapping ErrNotStartedByMaster) no larger than MaxWorkerConfig.
func ReadWorkerConfig(fd int) (*WorkerConfig, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&sealsAll != sealsAll {
		return nil, fmt.Errorf("%w: descriptor %d is not a sealed worker configuration", ErrNotStartedByMaster, fd)
	}
	f := os.NewFile(uintptr(fd), "fbtftp-worker-config")
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ipc: worker configuration: %w", err)
	}
	if fi.Size() > MaxWorkerConfig {
		return nil, fmt.Errorf("%w: worker configuration: %d bytes", ErrMalformed, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("ipc: worker configuration: %w", err)
	}
	return DecodeWorkerConfig(b)
}
