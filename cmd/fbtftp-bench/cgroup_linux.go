package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// cpuGroup is a cgroup v2 group a server under test runs in, started there
// by clone3 (CLONE_INTO_CGROUP), so that every process of the server, and
// every process those start, is accounted in its cpu.stat, whether or not
// anyone reaps them (in.tftpd ignores SIGCHLD: the CPU time of its
// transfer children never reaches its cutime).
type cpuGroup struct {
	dir string
	fd  *os.File
}

var cgroupSeq atomic.Int64

// newCPUGroup creates a group under the cgroup v2 hierarchy's group of this
// process. It fails where there is no cgroup v2 hierarchy or no right to
// create a group in it; the caller then falls back to /proc.
func newCPUGroup(name string) (*cpuGroup, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var rel string
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	dir := filepath.Join(mnt, rel, fmt.Sprintf("fbtftp-bench-%d-%d-%s", os.Getpid(), cgroupSeq.Add(1), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	g := &cpuGroup{dir: dir}
	if _, err := g.usage(); err != nil {
		os.Remove(dir)
		return nil, err
	}
	if g.fd, err = os.Open(dir); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return g, nil
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if ok && len(fields) >= 5 && strings.HasPrefix(post, "cgroup2 ") {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted")
}

// start makes cmd start in the group.
func (g *cpuGroup) start(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(g.fd.Fd())
}

// usage returns the CPU time used so far by the group's processes, past and
// present (cpu.stat usage_usec).
func (g *cpuGroup) usage() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	return parseCPUStat(b)
}

// procs returns the number of live processes in the group.
func (g *cpuGroup) procs() int {
	b, _ := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	return bytes.Count(b, []byte("\n"))
}

// remove deletes the group once its processes are gone (bounded wait).
func (g *cpuGroup) remove() {
	g.fd.Close()
	for range 100 {
		if err := os.Remove(g.dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
