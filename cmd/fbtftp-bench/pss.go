package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parsePSS returns the Pss field of a /proc/PID/smaps_rollup (or smaps)
// text in KiB: the "Pss:" line, not Pss_Anon and friends. Several Pss lines
// (smaps) are summed.
func parsePSS(b []byte) (int64, error) {
	var total int64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "Pss:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("bad Pss line %q", line)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad Pss line %q", line)
		}
		total += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no Pss line")
	}
	return total, nil
}

// statFields returns the fields of a /proc/PID/stat line from field 3
// (state) on, at least n of them. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func statFields(b []byte, n int) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < n {
		return nil, fmt.Errorf("bad stat")
	}
	return f, nil
}

// parseStatPPID returns the parent pid (field 4) from a /proc/PID/stat
// line.
func parseStatPPID(b []byte) (int, error) {
	f, err := statFields(b, 2)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1])
}

// parseStatThreads returns num_threads (field 20) from a /proc/PID/stat
// line.
func parseStatThreads(b []byte) (int, error) {
	f, err := statFields(b, 18) // field 20 is f[17]
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(f[17])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad stat")
	}
	return n, nil
}

// parseStatCPU returns utime + stime + cutime + cstime (fields 14 to 17,
// in clock ticks) from a /proc/PID/stat line.
func parseStatCPU(b []byte) (int64, error) {
	f, err := statFields(b, 15) // fields 14..17 are f[11..14]
	if err != nil {
		return 0, err
	}
	var total int64
	for _, s := range f[11:15] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad stat")
		}
		total += v
	}
	return total, nil
}

// descendants returns root and every process below it, given a pid ->
// parent pid map.
func descendants(root int, ppid map[int]int) []int {
	children := map[int][]int{}
	for pid, parent := range ppid {
		children[parent] = append(children[parent], pid)
	}
	out := []int{root}
	for i := 0; i < len(out) && i < 1_000_000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// parseCPUStat returns usage_usec from a cgroup v2 cpu.stat.
func parseCPUStat(b []byte) (time.Duration, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat: %q", line)
			}
			return time.Duration(n) * time.Microsecond, nil
		}
	}
	return 0, errors.New("cpu.stat: no usage_usec")
}
