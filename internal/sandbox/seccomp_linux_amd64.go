package sandbox

import "golang.org/x/sys/unix"

// auditArch is this binary's architecture in seccomp_data.arch.
const auditArch = unix.AUDIT_ARCH_X86_64

// x32Check refuses the x32 ABI's numbers (bit 30), which share x86_64's
// arch value.
const x32Check = true

// archRules are the calls x86_64 has and arm64 does not: arch_prctl sets
// a new thread's TLS in the Go runtime; the rest are the old forms the
// syscall package still uses on x86_64 (dup2, epoll_wait).
func archRules() []rule {
	return []rule{
		{nr: unix.SYS_ARCH_PRCTL},
		{nr: unix.SYS_NEWFSTATAT},
		{nr: unix.SYS_EPOLL_WAIT},
		{nr: unix.SYS_DUP2},
	}
}
