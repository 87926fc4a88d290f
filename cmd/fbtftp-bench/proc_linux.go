package main

import (
	"os"
	"path/filepath"
	"strconv"
)

// treePSS returns the summed PSS (KiB) of pid and all its descendants.
// Processes that exit while being read are skipped.
func treePSS(pid int) (int64, int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	ppid := make(map[int]int, len(ents))
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
		}
	}
	var total int64
	n := 0
	for _, p := range descendants(pid, ppid) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		if v, err := parsePSS(b); err == nil {
			total += v
			n++
		}
	}
	return total, n, nil
}
