package master

import (
	"time"
)

// Workers are untrusted: a worker may fork, and its children may outlive
// it, hold its end of the socketpair, or ignore the session deadline. The
// master therefore runs every worker in a jail that holds the worker and
// all its descendants, kills them together and tells when every one of
// them is gone. A worker's slot (Config.MaxWorkers, and its client's share,
// Config.MaxSessionsPerClient) is held until then.
//
// Two kinds of jail exist:
//
//   - a cgroup v2 leaf per worker (cgroupJail), when the master can create
//     cgroups (it is root, and a cgroup2 hierarchy is mounted where its own
//     cgroup is writable: under systemd, a service with Delegate=yes). The
//     worker is started inside it (clone3 CLONE_INTO_CGROUP), an
//     unprivileged worker cannot leave it, cgroup.kill kills every process
//     in it at once and cgroup.events says when it is empty;
//   - a process group per worker (pgroupJail) otherwise: kill(-pgid)
//     reaches the worker and the descendants that stayed in its group (a
//     process that calls setsid or setpgid escapes it, which a cgroup
//     prevents), and the group is empty once kill(-pgid, 0) fails.
//
// Every worker also gets its own process group in a cgroup, so that a
// terminal's ^C reaches only the master, which then drains.
type jail interface {
	// kill sends SIGKILL to every process in the jail.
	kill()
	// leftovers reports whether a process is still alive in the jail. It
	// is called once the worker itself has been reaped.
	leftovers() bool
	// wait waits until the jail holds no live process, for at most d,
	// and reports whether it is empty. It is called after the worker
	// itself has exited.
	wait(d time.Duration) bool
	// release frees what the jail holds (the cgroup directory). It is
	// called once, last.
	release()
	// String names the jail kind for logs: "cgroup" or "process group".
	String() string
}
