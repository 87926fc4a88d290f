package sandbox

import "golang.org/x/sys/unix"

// Landlock scoping (ABI 6, Linux 6.12+): a worker's domain may not signal
// processes outside it (LANDLOCK_SCOPE_SIGNAL), nor connect to abstract
// unix sockets created outside it (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET).
// Every worker enforces its own domain, so a compromised worker can
// signal neither the master nor another worker (they share the -u user,
// which the kernel would otherwise let signal each other), nor any other
// process of that user. Signals the kernel sends on its own (SIGCHLD to
// the master when the worker exits) and signals the master sends to the
// worker are not affected; the Go runtime's signals to its own threads
// stay inside the domain. On an older kernel the scopes are left out
// silently: the ruleset attribute's scoped field must then stay zero.

// landlockScopeABI is the first Landlock ABI version with scoping.
const landlockScopeABI = 6

// scopedFor returns the scopes to restrict for a kernel's ABI version.
func scopedFor(abi int) uint64 {
	if abi < landlockScopeABI {
		return 0
	}
	return unix.LANDLOCK_SCOPE_SIGNAL | unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
}
