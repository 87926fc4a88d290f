package sandbox

import "golang.org/x/sys/unix"

// auditArch is this binary's architecture in seccomp_data.arch.
const auditArch = unix.AUDIT_ARCH_AARCH64

// x32Check is x86_64's: arm64 has one system call table for 64-bit
// processes (32-bit ones have another arch value).
const x32Check = false

// archRules are the calls arm64 names differently from x86_64.
func archRules() []rule {
	return []rule{
		{nr: unix.SYS_FSTATAT},
	}
}
