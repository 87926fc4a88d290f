//go:build linux && (amd64 || arm64)

package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A seccomp filter (https://docs.kernel.org/userspace-api/seccomp_filter.html)
// limits the system calls a worker can make once it has said Hello to
// those a TFTP session needs: a compromised worker cannot exec, fork,
// trace, mount, change its credentials, open raw or unix sockets, load BPF
// or signal other processes, whatever it got hold of.
//
// The program is built here, with golang.org/x/sys/unix, and proved by
// the tests (seccomp_linux_test.go run each denied call in a child
// process, and the end-to-end suite runs every session path with it on).
// It checks, in order:
//
//  1. the architecture (seccomp_data.arch): anything but this binary's
//     (AUDIT_ARCH_X86_64 or AUDIT_ARCH_AARCH64) kills the process: the
//     i386 system call table (int 0x80) has other numbers;
//  2. on x86_64, the x32 ABI (numbers with bit 30 set, same arch value)
//     kills the process: x32 numbers alias the x86_64 ones;
//  3. the system call number against the allow-list (syscallRules), hot
//     calls first, with argument checks for clone (threads only), socket
//     (IPv4, IPv6, netlink route), kill and tgkill (this process only),
//     mmap and mprotect (never executable memory);
//  4. anything else kills the process (SECCOMP_RET_KILL_PROCESS: SIGSYS,
//     which the master logs as a crash), except clone3, which fails with
//     ENOSYS as runtimes that probe it expect.
//
// With the kernel's seccomp action cache (Linux 5.11+), a call whose
// verdict depends on its number alone (all but the four above) skips the
// program after the first time: nothing is paid per packet.

// killed is the action for a system call outside the allow-list. Killing
// rather than failing with EPERM: an exploit cannot probe on, the
// failure is loud (SIGSYS, "bad system call" in the master's log, and an
// audit record with the call's number in the kernel log), and a Go
// runtime that got EPERM from a call it needs would crash anyway.
const killed = unix.SECCOMP_RET_KILL_PROCESS

// Classic BPF opcodes (linux/filter.h).
const (
	bpfLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
)

// Offsets in struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6].
// Arguments are read by their low 32 bits (little-endian on both
// architectures): the kernel reads int arguments, clone's flags
// (lower_32_bits) and mmap's prot (unsigned long, whose PROT_ bits are
// all in the low word) the same way.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
)

// x32Bit marks x32 system call numbers on x86_64.
const x32Bit = 0x40000000

// argCheck allows a call only when its argument number arg, read as 32
// bits, passes: equals one of in, has every bit of set, or none of clear.
type argCheck struct {
	arg   int
	in    []uint32
	set   uint32
	clear uint32
}

// rule is an allowed system call, with an optional check of its first
// argument (a failed check kills).
type rule struct {
	nr    uintptr
	check *argCheck
}

// syscallRules returns the allow-list for this process (kill and tgkill
// may name pid only). The calls, by what needs them:
//
//   - the Go runtime: threads (clone with CLONE_THREAD, arch_prctl on
//     x86_64 for their TLS), memory (mmap, munmap, madvise, mprotect;
//     never PROT_EXEC),
//     scheduling and timers (futex, nanosleep, sched_yield,
//     sched_getaffinity, clock_gettime and gettimeofday when the vDSO
//     falls back), signals (rt_sigaction, rt_sigprocmask, rt_sigreturn,
//     sigaltstack, tgkill/kill to itself for preemption and crashes,
//     getpid, gettid), the network poller (epoll_*, eventfd2, pipe2),
//     exit and exit_group, getrandom (crypto/rand, TLS), uname (kernel
//     version probes), getrlimit/prlimit64 read-only probes, sysinfo
//     (uptime and load, read only: the codegen example serves them);
//   - files, for downloads, uploads, templates and the HTTP cache: openat
//     and openat2 (os.Root, RESOLVE_IN_ROOT), read, write, pread64,
//     pwrite64, readv, writev, lseek, close, fstat, newfstatat / fstatat,
//     statx, getdents64, fcntl, dup3 (and dup2 on x86_64), readlinkat
//     (os.Root walks symbolic links), flock, fsync, fdatasync, fallocate,
//     ftruncate, renameat, renameat2, unlinkat, mkdirat, fchmod,
//     fchmodat, utimensat, linkat and symlinkat are NOT allowed;
//   - sockets: the session's UDP socket and the IPC socketpair are
//     inherited; HTTP origins, DNS and the neighbour lookup create
//     AF_INET, AF_INET6 and AF_NETLINK (NETLINK_ROUTE) sockets and use
//     connect, bind, getsockname, getpeername, getsockopt, setsockopt,
//     sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg, shutdown;
//   - the credentials' readers getuid, geteuid, getgid, getegid
//     (logging).
//
// Everything else is refused: execve and execveat, fork (clone without
// CLONE_THREAD, vfork), ptrace, mount and the namespace calls (unshare,
// setns, pivot_root, chroot), setuid and every credential change,
// setsid, AF_PACKET / AF_UNIX / raw sockets, listen and accept, kill of
// another process, bpf, perf_event_open, io_uring, keyctl, add_key,
// userfaultfd, process_vm_*, init_module, reboot, prctl, ioctl...
func syscallRules(pid int) []rule {
	self := &argCheck{in: []uint32{uint32(pid)}}
	noExec := &argCheck{arg: 2, clear: unix.PROT_EXEC} // mmap's and mprotect's prot
	rules := []rule{
		// Hot: per packet and per poll.
		{nr: unix.SYS_RECVMSG}, {nr: unix.SYS_SENDMSG}, {nr: unix.SYS_SENDMMSG},
		{nr: unix.SYS_RECVMMSG}, {nr: unix.SYS_RECVFROM}, {nr: unix.SYS_SENDTO},
		{nr: unix.SYS_EPOLL_PWAIT}, {nr: unix.SYS_FUTEX}, {nr: unix.SYS_READ},
		{nr: unix.SYS_WRITE}, {nr: unix.SYS_PREAD64}, {nr: unix.SYS_PWRITE64},
		{nr: unix.SYS_NANOSLEEP}, {nr: unix.SYS_CLOCK_GETTIME}, {nr: unix.SYS_GETTIMEOFDAY},
		{nr: unix.SYS_SCHED_YIELD}, {nr: unix.SYS_GETPID}, {nr: unix.SYS_GETTID},
		{nr: unix.SYS_TGKILL, check: self}, {nr: unix.SYS_KILL, check: self},
		{nr: unix.SYS_RT_SIGRETURN}, {nr: unix.SYS_RT_SIGPROCMASK}, {nr: unix.SYS_RT_SIGACTION},
		{nr: unix.SYS_SIGALTSTACK},
		// Memory (never executable: Go maps no code after it starts)
		// and threads.
		{nr: unix.SYS_MMAP, check: noExec}, {nr: unix.SYS_MPROTECT, check: noExec},
		{nr: unix.SYS_MUNMAP}, {nr: unix.SYS_MADVISE},
		{nr: unix.SYS_CLONE, check: &argCheck{set: unix.CLONE_THREAD | unix.CLONE_VM}},
		{nr: unix.SYS_SCHED_GETAFFINITY},
		{nr: unix.SYS_EXIT}, {nr: unix.SYS_EXIT_GROUP},
		{nr: unix.SYS_EPOLL_CREATE1}, {nr: unix.SYS_EPOLL_CTL}, {nr: unix.SYS_EVENTFD2}, {nr: unix.SYS_PIPE2},
		{nr: unix.SYS_GETRANDOM}, {nr: unix.SYS_UNAME}, {nr: unix.SYS_SYSINFO},
		// Threads started by a C library (a worker built with cgo, the
		// race detector): after clone3's ENOSYS, clone; then rseq and
		// set_robust_list on the new thread.
		{nr: unix.SYS_RSEQ}, {nr: unix.SYS_SET_ROBUST_LIST},
		{nr: unix.SYS_GETRLIMIT}, {nr: unix.SYS_PRLIMIT64},
		// Files.
		{nr: unix.SYS_OPENAT}, {nr: unix.SYS_OPENAT2}, {nr: unix.SYS_CLOSE}, {nr: unix.SYS_READV},
		{nr: unix.SYS_WRITEV}, {nr: unix.SYS_LSEEK}, {nr: unix.SYS_FSTAT}, {nr: unix.SYS_STATX},
		{nr: unix.SYS_GETDENTS64}, {nr: unix.SYS_FCNTL}, {nr: unix.SYS_DUP3}, {nr: unix.SYS_READLINKAT},
		{nr: unix.SYS_FLOCK}, {nr: unix.SYS_FSYNC}, {nr: unix.SYS_FDATASYNC}, {nr: unix.SYS_FALLOCATE},
		{nr: unix.SYS_FTRUNCATE}, {nr: unix.SYS_RENAMEAT}, {nr: unix.SYS_RENAMEAT2}, {nr: unix.SYS_UNLINKAT},
		{nr: unix.SYS_MKDIRAT}, {nr: unix.SYS_FCHMOD}, {nr: unix.SYS_FCHMODAT}, {nr: unix.SYS_UTIMENSAT},
		// Sockets.
		{nr: unix.SYS_SOCKET, check: &argCheck{in: []uint32{unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}}},
		{nr: unix.SYS_CONNECT}, {nr: unix.SYS_BIND}, {nr: unix.SYS_GETSOCKNAME}, {nr: unix.SYS_GETPEERNAME},
		{nr: unix.SYS_GETSOCKOPT}, {nr: unix.SYS_SETSOCKOPT}, {nr: unix.SYS_SHUTDOWN},
		// Credentials, read only.
		{nr: unix.SYS_GETUID}, {nr: unix.SYS_GETEUID}, {nr: unix.SYS_GETGID}, {nr: unix.SYS_GETEGID},
	}
	return append(rules, archRules()...)
}

// buildFilter assembles the program for rules.
func buildFilter(rules []rule) ([]unix.SockFilter, error) {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	ret := func(action uint32) unix.SockFilter { return stmt(bpfRetK, action) }
	p := make([]unix.SockFilter, 0, 16+3*len(rules))
	p = append(p,
		stmt(bpfLdAbsW, offArch),
		jump(bpfJeqK, auditArch, 1, 0),
		ret(killed),
		stmt(bpfLdAbsW, offNr),
	)
	if x32Check {
		p = append(p, jump(bpfJgeK, x32Bit, 0, 1), ret(killed))
	}
	// clone3 gets ENOSYS: a libc or runtime that probes it then uses
	// clone, which the rules check.
	p = append(p, jump(bpfJeqK, uint32(unix.SYS_CLONE3), 0, 1), ret(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	var seen [1024 / 64]uint64 // system call numbers are below 1024 on both architectures
	for _, r := range rules {
		if r.nr >= 1024 || seen[r.nr/64]&(1<<(r.nr%64)) != 0 {
			return nil, fmt.Errorf("seccomp: system call %d listed twice or out of range", r.nr)
		}
		seen[r.nr/64] |= 1 << (r.nr % 64)
		if r.check == nil {
			p = append(p, jump(bpfJeqK, uint32(r.nr), 0, 1), ret(unix.SECCOMP_RET_ALLOW))
			continue
		}
		// jeq nr ? next : skip block; block: ld arg0; tests; kill.
		var block []unix.SockFilter
		block = append(block, stmt(bpfLdAbsW, uint32(offArg0+8*r.check.arg)))
		switch {
		case r.check.clear != 0:
			block = append(block, jump(bpfJsetK, r.check.clear, 0, 1), ret(killed), ret(unix.SECCOMP_RET_ALLOW))
		case r.check.set != 0:
			// Every bit of set must be there: one jset per bit.
			for b := uint32(1); b != 0; b <<= 1 {
				if r.check.set&b != 0 {
					block = append(block, jump(bpfJsetK, b, 1, 0), ret(killed))
				}
			}
			block = append(block, ret(unix.SECCOMP_RET_ALLOW))
		default:
			for _, v := range r.check.in {
				block = append(block, jump(bpfJeqK, v, 0, 1), ret(unix.SECCOMP_RET_ALLOW))
			}
			block = append(block, ret(killed))
		}
		if len(block) > 255 {
			return nil, fmt.Errorf("seccomp: argument check of system call %d too long", r.nr)
		}
		// The block ends in a return whatever the argument: the rules
		// after it are reached by the jump over it, with the number
		// still in the accumulator.
		p = append(p, jump(bpfJeqK, uint32(r.nr), 0, uint8(len(block))))
		p = append(p, block...)
	}
	p = append(p, ret(killed))
	if len(p) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: program of %d instructions", len(p))
	}
	return p, nil
}

// installSeccomp loads the filter for every thread of the process
// (SECCOMP_FILTER_FLAG_TSYNC), which must have no_new_privs. With logOnly,
// calls outside the allow-list are allowed and logged by the kernel
// (SECCOMP_RET_LOG, audit type 1326 with the call's number): a
// diagnostic for custom workers, never for production.
func installSeccomp(logOnly bool) error {
	prog, err := buildFilter(syscallRules(os.Getpid()))
	if err != nil {
		return err
	}
	if logOnly {
		for i := range prog {
			if prog[i].Code == bpfRetK && prog[i].K == killed {
				prog[i].K = unix.SECCOMP_RET_LOG
			}
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	switch {
	case errno != 0:
		return fmt.Errorf("seccomp: %w", errno)
	case r != 0:
		// TSYNC names a thread that could not take the filter.
		return fmt.Errorf("seccomp: thread %d could not take the filter", r)
	}
	return nil
}

// seccompSupported reports whether this build has a filter.
const seccompSupported = true
