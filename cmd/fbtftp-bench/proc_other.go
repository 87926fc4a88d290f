//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

func treePSS(int) (int64, int, int, error) { return 0, 0, 0, errors.New("PSS needs Linux /proc") }

func treeCPU(int) (time.Duration, int, error) {
	return 0, 0, errors.New("CPU accounting needs Linux /proc")
}

type cpuGroup struct{}

func newCPUGroup(string) (*cpuGroup, error) { return nil, errors.New("cgroups need Linux") }

func (g *cpuGroup) start(*exec.Cmd) {}

func (g *cpuGroup) usage() (time.Duration, error) { return 0, errors.New("cgroups need Linux") }

func (g *cpuGroup) procs() int { return 0 }

func (g *cpuGroup) remove() {}
