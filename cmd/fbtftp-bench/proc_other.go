//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"syscall"
)

func treePSS(int) (int64, int, error) { return 0, 0, errors.New("PSS needs Linux /proc") }

func ownGroup(*exec.Cmd) {}

func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}
