package master

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// procRSS returns the resident set size of process pid, in bytes, from
// /proc/PID/statm (its second field, in pages).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("statm: short")
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}

// procFDs returns the number of descriptors process pid has open.
func procFDs(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// others reports whether a process other than the worker pid lives in its
// jail: in a cgroup, any other process in it; in a process group, any
// child of the worker (a grandchild that left the worker for init cannot
// be found without scanning /proc; it is killed when the worker's group
// is, at the worker's exit).
func others(j jail, pid int) bool {
	switch j := j.(type) {
	case *cgroupJail:
		b, err := os.ReadFile(filepath.Join(j.dir, "cgroup.procs"))
		if err != nil {
			return true
		}
		self := strconv.Itoa(pid)
		for line := range bytes.SplitSeq(bytes.TrimSpace(b), []byte("\n")) {
			if string(line) != self {
				return true
			}
		}
		return false
	default:
		// Without CONFIG_PROC_CHILDREN there is nothing to read: the
		// worker's exit is when its group is checked.
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
		for _, t := range tasks {
			// A thread that just ended has no file any more: skipped.
			if b, err := os.ReadFile(t); err == nil && len(bytes.TrimSpace(b)) > 0 {
				return true
			}
		}
		return false
	}
}
