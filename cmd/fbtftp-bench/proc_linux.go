package main

import (
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// procStats reads /proc/PID/stat of every process: the raw lines and each
// process's parent. Processes that exit while being read are skipped.
func procStats() (stats map[int][]byte, ppid map[int]int, err error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil, err
	}
	ppid = make(map[int]int, len(ents))
	stats = make(map[int][]byte, len(ents))
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pp, err := parseStatPPID(b); err == nil {
			ppid[p] = pp
			stats[p] = b
		}
	}
	return stats, ppid, nil
}

// treePSS returns the summed PSS (KiB) of pid and all its descendants,
// how many processes that is, and their threads. Processes that exit while
// being read are skipped.
func treePSS(pid int) (kib int64, procs, threads int, err error) {
	stats, ppid, err := procStats()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, p := range descendants(pid, ppid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		if v, err := parsePSS(b); err == nil {
			kib += v
			procs++
			n, _ := parseStatThreads(stats[p])
			threads += n
		}
	}
	return kib, procs, threads, nil
}

// treeCPU returns the CPU time (user + system) used so far by pid's
// process tree: every live process's own time plus the time of the
// children it has reaped (cutime, cstime), so a transfer process that has
// exited and been waited for still counts. It also returns the number of
// live processes. The unit is the kernel's clock tick (USER_HZ, 100 per
// second on Linux). The harness prefers a cgroup (cgroup_linux.go): a
// child nobody waits for never reaches a cutime.
func treeCPU(pid int) (time.Duration, int, error) {
	stats, ppid, err := procStats()
	if err != nil {
		return 0, 0, err
	}
	var ticks int64
	n := 0
	for _, p := range descendants(pid, ppid) {
		t, err := parseStatCPU(stats[p])
		if err != nil {
			continue
		}
		ticks += t
		n++
	}
	return time.Duration(ticks) * (time.Second / userHZ), n, nil
}

// userHZ is the unit of the times in /proc/PID/stat (sysconf(_SC_CLK_TCK),
// 100 on every Linux architecture Go supports).
const userHZ = 100
