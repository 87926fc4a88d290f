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
	if s.AtExec {
		return applyAtExec(s)
	}
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

// ExecAttr sets in attr what the master applies between fork and exec for
// a spec with AtExec: the chroot and the user (setgroups, setresgid,
// setresuid). no_new_privs is no SysProcAttr field: the master sets it on
// the thread that starts the workers, and a child inherits it.
func (s Spec) ExecAttr(attr *syscall.SysProcAttr) {
	attr.Chroot = s.Chroot
	if s.Drop {
		groups := make([]uint32, len(s.Groups))
		for i, g := range s.Groups {
			groups[i] = uint32(g)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID), Groups: groups}
	}
}

// applyAtExec completes a sandbox the master applied at exec: it checks
// the user and no_new_privs (every thread got them from the thread that
// exec'd: no AllThreadsSyscall), leaves the directory it was started in
// (outside the root: the exec went through it) for the root, then applies
// Landlock and seccomp as Apply does.
func applyAtExec(s Spec) (Applied, error) {
	// First: until now relative paths reach outside the root. Nothing
	// untrusted has run yet (the session arrives after Hello).
	if err := syscall.Chdir("/"); err != nil {
		return Applied{}, fmt.Errorf("chdir /: %w", err)
	}
	if s.Drop {
		if uid, gid := syscall.Getuid(), syscall.Getgid(); uid != s.UID || gid != s.GID {
			return Applied{}, fmt.Errorf("started as uid %d gid %d, want %d %d", uid, gid, s.UID, s.GID)
		}
		if s.UID != 0 {
			// This thread only: should it succeed, the process exits.
			if _, _, errno := syscall.RawSyscall(syscall.SYS_SETUID, 0, 0, 0); errno == 0 {
				return Applied{}, fmt.Errorf("privileges not dropped: setuid(0) succeeded")
			}
		}
	}
	if nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err != nil || nnp != 1 {
		// Not inherited (a master that did not set it): every thread now.
		if err := noNewPrivs(); err != nil {
			return Applied{}, err
		}
	}
	var applied Applied
	if s.Landlock {
		rules, err := openRules(s)
		if err != nil {
			return applied, err
		}
		defer closeRules(rules)
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
