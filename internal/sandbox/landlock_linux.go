package sandbox

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock (Linux 5.13+, https://docs.kernel.org/userspace-api/landlock.html)
// confines the worker's file system access to the directories it serves
// and the ones it writes (the HTTP cache), whatever it opened before: even
// code able to make raw system calls in a compromised worker cannot use a
// descriptor kept from before the chroot (the cache directory) to walk
// out. Rules are attached to directories opened before the chroot, so
// they name the same inodes after it.

// Access rights, by the Landlock ABI version that introduced them.
const (
	llReadRights  = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	llWriteRights = llReadRights | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE
)

// handledFor returns every file system right the kernel's ABI version
// knows: all of them are denied unless a rule allows them.
func handledFor(abi int) uint64 {
	h := uint64(1<<13 - 1) // ABI 1: EXECUTE .. MAKE_SYM
	if abi >= 2 {
		h |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		h |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		h |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return h
}

// landlockABI returns the kernel's Landlock ABI version, 0 when it has
// none (not built in, or disabled at boot).
func landlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}

// dirRule is a directory opened (O_PATH) before the chroot and the rights
// granted beneath it.
type dirRule struct {
	fd     int
	rights uint64
}

// openRules opens the spec's directories. A directory that does not exist
// (in.tftpd's non-secure directories may be mounted later) gets no rule:
// nothing beneath it can be opened until the worker restarts, which a
// worker per session does.
func openRules(s Spec) ([]dirRule, error) {
	var rules []dirRule
	add := func(paths []string, rights uint64) error {
		for _, p := range paths {
			fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			if err != nil {
				return fmt.Errorf("landlock: %s: %w", p, err)
			}
			rules = append(rules, dirRule{fd: fd, rights: rights})
		}
		return nil
	}
	err := errors.Join(add(s.FSRead, llReadRights), add(s.FSWrite, llWriteRights))
	if err != nil {
		closeRules(rules)
		return nil, err
	}
	return rules, nil
}

func closeRules(rules []dirRule) {
	for _, r := range rules {
		unix.Close(r.fd)
	}
}

// enforceLandlock restricts every thread of the process to rules and
// returns the ABI version enforced, 0 when the kernel has no Landlock
// (then nothing is done: the chroot and the user still confine the
// worker).
func enforceLandlock(rules []dirRule) (int, error) {
	abi := landlockABI()
	if abi == 0 {
		return 0, nil
	}
	handled := handledFor(abi)
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled, Scoped: scopedFor(abi)}
	rfd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return 0, fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(rfd))
	for _, r := range rules {
		pb := unix.LandlockPathBeneathAttr{Allowed_access: r.rights & handled, Parent_fd: int32(r.fd)}
		if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rfd, unix.LANDLOCK_RULE_PATH_BENEATH,
			uintptr(unsafe.Pointer(&pb)), 0, 0, 0); errno != 0 {
			return 0, fmt.Errorf("landlock_add_rule: %w", errno)
		}
	}
	// Like no_new_privs (which Landlock requires, set just before), the
	// domain belongs to a thread: every thread at once, or, in binaries
	// linked with cgo, the calling thread and the ones started after it.
	_, _, errno = syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rfd, 0, 0)
	if errno == syscall.ENOTSUP {
		_, _, errno = unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rfd, 0, 0)
	}
	if errno != 0 {
		return 0, fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return abi, nil
}
