package sandbox

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Apply confines the current process as s says: chroot (then chdir "/"),
// setgroups, setgid, setuid (Go applies these to every thread), and
// no_new_privs in every case. It verifies the result: after a drop to a
// non-root user, regaining root must fail.
//
// With s.Landlock, access to the file system is then restricted to
// s.FSRead (read) and s.FSWrite (read, create, write, remove files) with
// Landlock, when the kernel has it. With s.Seccomp, the system calls are
// then limited to an allow-list (seccomp_linux.go). It returns what it put
// in place.
func Apply(s Spec) (Applied, error) {
	var rules []dirRule
	if s.Landlock {
		// Opened before the chroot: the paths are the master's.
		var err error
		if rules, err = openRules(s); err != nil {
			return Applied{}, err
		}
		defer closeRules(rules)
	}
	if s.Chroot != "" {
		if err := syscall.Chroot(s.Chroot); err != nil {
			return Applied{}, fmt.Errorf("chroot %s: %w", s.Chroot, err)
		}
		if err := syscall.Chdir("/"); err != nil {
			return Applied{}, fmt.Errorf("chdir /: %w", err)
		}
	}
	if s.Drop {
		groups := s.Groups
		if groups == nil {
			groups = []int{}
		}
		if err := syscall.Setgroups(groups); err != nil {
			return Applied{}, fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(s.GID, s.GID, s.GID); err != nil {
			return Applied{}, fmt.Errorf("setgid %d: %w", s.GID, err)
		}
		if err := syscall.Setresuid(s.UID, s.UID, s.UID); err != nil {
			return Applied{}, fmt.Errorf("setuid %d: %w", s.UID, err)
		}
		if s.UID != 0 && syscall.Setuid(0) == nil {
			return Applied{}, fmt.Errorf("privileges not dropped: setuid(0) succeeded")
		}
	}
	if err := noNewPrivs(); err != nil {
		return Applied{}, err
	}
	var applied Applied
	if s.Landlock {
		abi, err := enforceLandlock(rules)
		applied.LandlockABI = abi
		if err != nil {
			return applied, err
		}
	}
	var err error
	applied.Seccomp, err = applySeccomp(s)
	return applied, err
}

// noNewPrivs sets no_new_privs. The flag belongs to a thread, so it is set
// on every thread of the process at once (AllThreadsSyscall). That call is
// not available in binaries linked with cgo: there the flag is set on the
// calling thread only, and every thread the runtime starts after it
// inherits it. Build workers with CGO_ENABLED=0 (the Makefile does).
func noNewPrivs() error {
	_, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
	if errno == 0 {
		return nil
	}
	if errno != syscall.ENOTSUP {
		return fmt.Errorf("no_new_privs: %w", errno)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return nil
}
