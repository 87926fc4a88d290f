// Package sandbox confines a worker process before it reads any request:
// chroot into the TFTP root, then drop to an unprivileged user
// (setgroups, setgid, setuid) and set no_new_privs. The master decides the
// spec (it can still read /etc/passwd) and passes it in the worker's
// environment.
package sandbox
