package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// The floor of a fresh worker per session: the CPU time of one exec of an
// empty static Go binary (package main, an empty main) by a Go parent. No
// worker process started per session can cost less; issue 10 measures the
// stock worker against it, in the same run.

// floorResult is the floor measured once: the child's CPU time (user +
// system, from wait4's rusage) per exec, and the wall time from the start
// of the exec to its reaping.
type floorResult struct {
	Execs     int     `json:"execs"`
	CPUMedian float64 `json:"cpu_ms_median"`
	CPUMean   float64 `json:"cpu_ms_mean"`
	WallMed   float64 `json:"wall_ms_median"`
	Binary    string  `json:"binary"`
	Bytes     int64   `json:"binary_bytes"`
}

const emptyMain = "package main\n\nfunc main() {}\n"

// buildEmpty builds the empty static Go binary into dir with the go
// command found in PATH (the toolchain that builds the workers).
func buildEmpty(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module empty\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(emptyMain), 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "empty")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build of the empty binary: %v: %s", err, out)
	}
	return bin, nil
}

// measureFloor execs bin n times, one after the other, and returns the
// child CPU time per exec.
func measureFloor(ctx context.Context, bin string, n int) (floorResult, error) {
	res := floorResult{Execs: n, Binary: bin}
	if fi, err := os.Stat(bin); err == nil {
		res.Bytes = fi.Size()
	}
	cpu := make([]float64, 0, n)
	wall := make([]float64, 0, n)
	var sum float64
	for range n {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cmd := exec.Command(bin)
		cmd.Env = []string{}
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return res, fmt.Errorf("floor: %s: %w", bin, err)
		}
		w := time.Since(t0)
		ps := cmd.ProcessState
		c := ms(ps.UserTime() + ps.SystemTime())
		cpu = append(cpu, c)
		wall = append(wall, ms(w))
		sum += c
	}
	if n == 0 {
		return res, errors.New("floor: no execs")
	}
	slices.Sort(cpu)
	slices.Sort(wall)
	res.CPUMedian = median(cpu)
	res.CPUMean = sum / float64(n)
	res.WallMed = median(wall)
	return res, nil
}
