package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Environment variables carrying the spec from master to worker.
const (
	EnvChroot = "FBTFTP_CHROOT"
	EnvUID    = "FBTFTP_UID"
	EnvGID    = "FBTFTP_GID"
	EnvGroups = "FBTFTP_GROUPS"
	// EnvLandlock is "1" to restrict file access with Landlock to the
	// directories of EnvFSRead and EnvFSWrite (newline-separated).
	EnvLandlock = "FBTFTP_LANDLOCK"
	EnvFSRead   = "FBTFTP_FS_READ"
	EnvFSWrite  = "FBTFTP_FS_WRITE"
	// EnvSeccomp is "1" to install the seccomp filter (Spec.Seccomp);
	// EnvSeccompLog "1" (from the master's own environment, which
	// workers inherit) only logs what it would refuse (Spec.SeccompLog).
	EnvSeccomp    = "FBTFTP_SECCOMP"
	EnvSeccompLog = "FBTFTP_SECCOMP_LOG"
	// EnvAtExec is "1" when the master applied the chroot, the user and
	// no_new_privs between fork and exec (Spec.AtExec).
	EnvAtExec = "FBTFTP_SANDBOX_AT_EXEC"
)

// Spec says how to confine a worker. The zero value confines nothing (an
// unprivileged master, as in `make run`).
type Spec struct {
	Chroot string // directory to chroot into; empty: none
	Drop   bool   // switch to UID/GID/Groups
	UID    int
	GID    int
	Groups []int // supplementary groups; empty: none

	// Landlock restricts the file system to FSRead (read files, list
	// directories) and FSWrite (also create, write, truncate and remove
	// files) beneath each directory, paths as the master sees them.
	Landlock bool
	FSRead   []string
	FSWrite  []string

	// Seccomp limits the system calls to those a session needs (see
	// seccomp_linux.go; linux/amd64 and linux/arm64), installed last.
	// SeccompLog, for diagnosis only, allows the calls outside the list
	// and has the kernel log them (audit type 1326, in the kernel log).
	Seccomp    bool
	SeccompLog bool

	// AtExec says that the master applies the chroot, the user and
	// no_new_privs while it starts the worker, between fork and exec
	// (ExecAttr, master.Config.SandboxAtExec): the worker starts confined,
	// in the root, with no AllThreadsSyscall to pay (each stops the world
	// and signals every thread). Apply then only checks them, changes to
	// the root directory, and applies Landlock (FSRead and FSWrite are then
	// paths inside the root) and seccomp. Only for workers that need no
	// file outside the root before Serve (the stock fbtftp-worker).
	AtExec bool
}

// Applied is what Apply put in place.
type Applied struct {
	// LandlockABI is the Landlock ABI version enforced; 0 when none was
	// (not asked, or the kernel has no Landlock).
	LandlockABI int
	// Seccomp reports whether the seccomp filter was installed (not when
	// not asked, or where this build has none: only linux/amd64 and
	// linux/arm64 do).
	Seccomp bool
}

// ForUser builds the spec for running as the named user (a name or a
// numeric uid), with its primary and supplementary groups, as in.tftpd -u
// does with initgroups. When the current process is not root, nothing can
// be changed: the spec is empty and ok is false.
func ForUser(name, chroot string) (s Spec, ok bool, err error) {
	if os.Geteuid() != 0 {
		return Spec{}, false, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.Atoi(name); numErr == nil {
			u, err = user.LookupId(name)
		}
		if err != nil {
			return Spec{}, false, fmt.Errorf("user %q: %w", name, err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return Spec{}, false, fmt.Errorf("user %q: %w", name, err)
	}
	s = Spec{Chroot: chroot, Drop: true, UID: uid, GID: gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				s.Groups = append(s.Groups, g)
			}
		}
	}
	return s, true, nil
}

// Env encodes the spec as environment variables for the worker.
func (s Spec) Env() []string {
	var env []string
	if s.Chroot != "" {
		env = append(env, EnvChroot+"="+s.Chroot)
	}
	if s.Drop {
		g := make([]string, len(s.Groups))
		for i, id := range s.Groups {
			g[i] = strconv.Itoa(id)
		}
		env = append(env, EnvUID+"="+strconv.Itoa(s.UID), EnvGID+"="+strconv.Itoa(s.GID), EnvGroups+"="+strings.Join(g, ","))
	}
	if s.Landlock {
		env = append(env, EnvLandlock+"=1", EnvFSRead+"="+strings.Join(s.FSRead, "\n"), EnvFSWrite+"="+strings.Join(s.FSWrite, "\n"))
	}
	if s.Seccomp {
		env = append(env, EnvSeccomp+"=1")
	}
	if s.SeccompLog {
		env = append(env, EnvSeccompLog+"=1")
	}
	if s.AtExec {
		env = append(env, EnvAtExec+"=1")
	}
	return env
}

// FromEnv decodes the spec the master put in the environment.
func FromEnv(getenv func(string) string) (Spec, error) {
	s := Spec{Chroot: getenv(EnvChroot), Seccomp: getenv(EnvSeccomp) == "1", SeccompLog: getenv(EnvSeccompLog) == "1",
		AtExec: getenv(EnvAtExec) == "1"}
	if getenv(EnvLandlock) == "1" {
		s.Landlock = true
		s.FSRead, s.FSWrite = pathList(getenv(EnvFSRead)), pathList(getenv(EnvFSWrite))
	}
	uid, gid := getenv(EnvUID), getenv(EnvGID)
	if uid == "" && gid == "" {
		return s, nil
	}
	var err1, err2 error
	s.Drop = true
	s.UID, err1 = strconv.Atoi(uid)
	s.GID, err2 = strconv.Atoi(gid)
	if err := errors.Join(err1, err2); err != nil || s.UID < 0 || s.GID < 0 {
		return Spec{}, fmt.Errorf("bad sandbox user in environment: uid %q gid %q", uid, gid)
	}
	if gs := getenv(EnvGroups); gs != "" {
		for _, f := range strings.Split(gs, ",") {
			g, err := strconv.Atoi(f)
			if err != nil || g < 0 {
				return Spec{}, fmt.Errorf("bad sandbox group %q", f)
			}
			s.Groups = append(s.Groups, g)
		}
	}
	return s, nil
}

// ForExec returns the spec to apply at exec (AtExec set): the Landlock
// paths translated to the worker's view, inside the chroot. ok is false
// when it cannot be (no chroot and no user to drop, or a Landlock path
// outside the root, which a worker started in its root cannot open): the
// worker then applies s itself.
func (s Spec) ForExec() (Spec, bool) {
	if s.Chroot == "" && !s.Drop {
		return s, false
	}
	in := func(paths []string) ([]string, bool) {
		if s.Chroot == "" || len(paths) == 0 {
			return paths, true
		}
		out := make([]string, len(paths))
		for i, p := range paths {
			rel, err := filepath.Rel(s.Chroot, p)
			if err != nil || !filepath.IsAbs(p) || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, false
			}
			out[i] = filepath.Join("/", rel)
		}
		return out, true
	}
	e := s
	var ok1, ok2 bool
	e.FSRead, ok1 = in(s.FSRead)
	e.FSWrite, ok2 = in(s.FSWrite)
	if !ok1 || !ok2 {
		return s, false
	}
	e.AtExec = true
	return e, true
}

func pathList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, "\n")
}
