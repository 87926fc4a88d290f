package master

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// readMachine reads the memory and the process table from /proc and this
// process's cgroups (v2, or v1's memory and pids controllers). What cannot
// be read is left 0.
func readMachine() Machine {
	var m Machine
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes = memTotal(b)
	}
	for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		m.PIDs = lower(m.PIDs, readLimit(f))
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, c := range parseCgroups(b) {
			m.MemoryBytes = lower(m.MemoryBytes, readLimit(c.memory))
			m.PIDs = lower(m.PIDs, readLimit(c.pids))
		}
	}
	return m
}

// cgroupFiles are the limit files of one cgroup hierarchy this process is
// in.
type cgroupFiles struct{ memory, pids string }

// parseCgroups maps /proc/self/cgroup to the limit files to read: the v2
// hierarchy (mounted at /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid
// systems) and v1's memory and pids controllers. A file that does not
// exist reads as no limit.
func parseCgroups(b []byte) []cgroupFiles {
	var out []cgroupFiles
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || !strings.HasPrefix(path, "/") || strings.Contains(path, "..") {
			continue
		}
		if id == "0" && ctrls == "" {
			for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
				d := filepath.Join(root, path)
				out = append(out, cgroupFiles{memory: filepath.Join(d, "memory.max"), pids: filepath.Join(d, "pids.max")})
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			switch c {
			case "memory":
				out = append(out, cgroupFiles{memory: filepath.Join("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes")})
			case "pids":
				out = append(out, cgroupFiles{pids: filepath.Join("/sys/fs/cgroup/pids", path, "pids.max")})
			}
		}
	}
	return out
}

// memTotal is MemTotal of /proc/meminfo, in bytes; 0 when absent.
func memTotal(b []byte) int64 {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
					return n << 10
				}
			}
		}
	}
	return 0
}

// readLimit reads a number from a limit file: 0 when the file is missing,
// says "max" or holds something else. v1's "no limit" is a huge number,
// which lower then ignores against MemTotal.
func readLimit(path string) int64 {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// lower is the smaller of a and b, a value of 0 meaning unknown.
func lower(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}
