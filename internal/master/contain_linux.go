package master

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// CgroupNone as Config.CgroupDir turns worker cgroups off: every worker
// then runs in its own process group only.
const CgroupNone = "none"

// jails makes a jail for each worker: a cgroup leaf under dir when the
// master could create dir, a process group otherwise.
type jails struct {
	dir      string // this master's cgroup for its workers; "" for process groups
	seq      atomic.Uint64
	log      *zap.Logger
	disabled atomic.Bool // cgroups stopped working: process groups from now on
}

// newJails decides how workers are contained and says so in the log.
// parent is Config.CgroupDir; tag makes the directory name unique to this
// Master (several may run in one process, as in tests).
func newJails(parent, tag string, log *zap.Logger) *jails {
	j := &jails{log: log}
	if parent == CgroupNone {
		log.Info("workers contained by process group", zap.String("reason", "cgroups turned off by configuration"))
		return j
	}
	dir, err := cgroupParent(parent)
	if err == nil {
		sweepStaleCgroups(dir, log)
		base := filepath.Join(dir, "fbtftp-"+strconv.Itoa(os.Getpid())+"-"+tag)
		if err = os.Mkdir(base, 0o755); err == nil {
			j.dir = base
		}
	}
	if j.dir == "" {
		log.Info("workers contained by process group (a worker's descendants that leave its group escape the kill)",
			zap.String("reason", "cannot create a cgroup v2 for workers"), zap.Error(err))
		return j
	}
	kill := "cgroup.kill"
	if _, err := os.Stat(filepath.Join(j.dir, kill)); err != nil {
		kill = "cgroup.procs (no cgroup.kill before Linux 5.14)"
	}
	log.Info("workers contained by cgroup", zap.String("cgroup", j.dir), zap.String("kill_by", kill))
	return j
}

// cgroupParent returns the directory under which worker cgroups go: dir if
// set, else the master's own cgroup in the cgroup v2 hierarchy.
func cgroupParent(dir string) (string, error) {
	if dir != "" {
		if !isCgroup2(dir) {
			return "", fmt.Errorf("%s is not a cgroup v2 directory", dir)
		}
		return dir, nil
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	rel, ok := "", false
	for line := range strings.SplitSeq(string(self), "\n") {
		if p, found := strings.CutPrefix(line, "0::"); found {
			rel, ok = p, true
		}
	}
	if !ok {
		return "", errors.New("the master is in no cgroup v2 hierarchy")
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, m := range cgroup2Mounts(mounts) {
		if sub, ok := strings.CutPrefix(rel, m.root); ok && (m.root == "/" || sub == "" || sub[0] == '/') {
			d := filepath.Join(m.point, sub)
			if isCgroup2(d) {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("the master's cgroup %s is not mounted", rel)
}

type mount struct{ root, point string }

// cgroup2Mounts lists the cgroup2 mounts of a /proc/self/mountinfo.
func cgroup2Mounts(mountinfo []byte) []mount {
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f := strings.Fields(pre)
		if !ok || len(f) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		out = append(out, mount{root: unescapeMount(f[3]), point: unescapeMount(f[4])})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// sweepStaleCgroups kills and removes the worker cgroups of masters that
// are gone (killed before they could clean up): their workers' leftovers
// must not live on.
func sweepStaleCgroups(dir string, log *zap.Logger) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "fbtftp-")
		pidStr, _, ok2 := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || !ok2 || err != nil || !e.IsDir() || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); err == nil {
			continue // its master may still run
		}
		n := removeCgroupTree(filepath.Join(dir, e.Name()), time.Second)
		log.Warn("removed the worker cgroups of a master that is gone", zap.String("cgroup", filepath.Join(dir, e.Name())),
			zap.Int("cgroups", n))
	}
}

// removeCgroupTree kills the processes in the leaves under base, waits for
// them (for at most d each) and removes the directories. It returns the
// number of leaves removed.
func removeCgroupTree(base string, d time.Duration) int {
	n := 0
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c := cgroupJail{dir: filepath.Join(base, e.Name())}
		c.kill()
		c.wait(d)
		if os.Remove(c.dir) == nil {
			n++
		}
	}
	os.Remove(base)
	return n
}

// close removes this master's cgroup directory and any leaf left in it.
func (j *jails) close() {
	if j.dir != "" {
		removeCgroupTree(j.dir, time.Second)
	}
}

// start starts the command newCmd returns in a new jail. newCmd sets
// everything (SysProcAttr: the sandbox applied at exec, if any; the jail
// adds its fields); it may be called twice (a Cmd cannot be
// started again after a failed Start).
func (j *jails) start(newCmd func() *exec.Cmd) (*exec.Cmd, jail, error) {
	if j.dir != "" && !j.disabled.Load() {
		cmd, c, err := j.startInLeaf(newCmd())
		if err == nil || isExecError(err) {
			return cmd, c, err
		}
		// The kernel refused the cgroup (no clone3, a cgroup that
		// cannot take processes, too many cgroups): fall back for good.
		if !j.disabled.Swap(true) {
			j.log.Warn("cannot start workers in cgroups: process groups from now on", zap.Error(err))
		}
	}
	cmd := newCmd()
	procAttr(cmd).Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, &pgroupJail{pgid: cmd.Process.Pid}, nil
}

func (j *jails) startInLeaf(cmd *exec.Cmd) (*exec.Cmd, jail, error) {
	c, err := j.newLeaf()
	if err != nil {
		return nil, nil, err
	}
	dfd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		c.release()
		return nil, nil, err
	}
	// clone3(CLONE_INTO_CGROUP): the worker never runs outside its leaf.
	attr := procAttr(cmd)
	attr.Setpgid, attr.UseCgroupFD, attr.CgroupFD = true, true, dfd
	err = cmd.Start()
	unix.Close(dfd)
	if err != nil {
		c.release()
		return nil, nil, err
	}
	return cmd, c, nil
}

// limitData sets the hard limit of pid's data segment (RLIMIT_DATA), the
// bound of its memory: an allocation beyond it fails.
func limitData(pid int, bytes int64) error {
	lim := unix.Rlimit{Cur: uint64(bytes), Max: uint64(bytes)}
	return unix.Prlimit(pid, unix.RLIMIT_DATA, &lim, nil)
}

// procAttr returns cmd's SysProcAttr, created when nil: the jail's fields
// join those of a sandbox applied at exec.
func procAttr(cmd *exec.Cmd) *syscall.SysProcAttr {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	return cmd.SysProcAttr
}

// isExecError reports an error of the program itself (missing, not
// executable), as opposed to one of the cgroup.
func isExecError(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) ||
		errors.Is(err, syscall.ETXTBSY) || errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.EMFILE)
}

func (j *jails) newLeaf() (*cgroupJail, error) {
	d := filepath.Join(j.dir, "w"+strconv.FormatUint(j.seq.Add(1), 10))
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, err
	}
	return &cgroupJail{dir: d}, nil
}

// cgroupJail is a worker's cgroup v2 leaf.
type cgroupJail struct{ dir string }

func (c *cgroupJail) String() string { return "cgroup" }

// kill writes cgroup.kill (Linux 5.14), or kills each process listed in
// cgroup.procs where it does not exist.
func (c *cgroupJail) kill() {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return
	}
	for range 16 {
		b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			return
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
}

// wait waits in the netpoller for cgroup.events to say "populated 0":
// the kernel signals a change of the file to poll (cgroup-v2.rst).
func (c *cgroupJail) wait(d time.Duration) bool {
	fd, err := unix.Open(filepath.Join(c.dir, "cgroup.events"), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return true // gone: nothing can live in it
	}
	f := os.NewFile(uintptr(fd), "cgroup.events")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return populated(fd) == 0
	}
	f.SetReadDeadline(time.Now().Add(d))
	empty := false
	rc.Read(func(fd uintptr) bool {
		empty = populated(int(fd)) == 0
		return empty
	})
	return empty
}

// populated reads the "populated" field of an open cgroup.events: 1 while
// a live process is in the cgroup or below, else 0; -1 on error.
func populated(fd int) int {
	var b [256]byte
	n, err := unix.Pread(fd, b[:], 0)
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b[:n]), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			if v == "0" {
				return 0
			}
			return 1
		}
	}
	return -1
}

// leftovers reports whether a process is still alive in the cgroup.
func (c *cgroupJail) leftovers() bool {
	fd, err := unix.Open(filepath.Join(c.dir, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return populated(fd) != 0
}

func (c *cgroupJail) release() { os.Remove(c.dir) }

// pgroupJail is a worker's process group (its pgid is its pid).
type pgroupJail struct{ pgid int }

func (p *pgroupJail) String() string { return "process group" }

func (p *pgroupJail) kill() { unix.Kill(-p.pgid, unix.SIGKILL) }

// leftovers reports whether a process of the group is alive (or a zombie
// nobody reaped). The worker itself must have been reaped: until then it
// is a member.
func (p *pgroupJail) leftovers() bool { return unix.Kill(-p.pgid, 0) != unix.ESRCH }

// wait polls the group: the kernel has no event for an empty process
// group. The group's members are killed: they go within milliseconds,
// unless nobody reaps them (their parent is gone and init does not reap;
// Config.ReapOrphans makes the master reap them).
func (p *pgroupJail) wait(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if !p.leftovers() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
}

func (p *pgroupJail) release() {}

// watchExit waits until the process pid has exited, without reaping it:
// in the netpoller on a pidfd (readable once the process is a zombie), or,
// where pidfds do not exist, in a blocking waitid(WNOWAIT).
func watchExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err == nil {
		f := os.NewFile(uintptr(fd), "pidfd")
		defer f.Close()
		if rc, err := f.SyscallConn(); err == nil && f.SetReadDeadline(time.Time{}) == nil {
			rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				return err != nil || info.Signo != 0
			})
			return
		}
	}
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}
