//go:build !linux

package master

import (
	"os/exec"
	"time"

	"go.uber.org/zap"
)

// CgroupNone as Config.CgroupDir turns worker cgroups off.
const CgroupNone = "none"

// jails only starts processes outside Linux: no cgroups, no process
// groups (the master is Linux-only; this keeps go vet working elsewhere).
type jails struct{}

func newJails(string, string, *zap.Logger) *jails { return &jails{} }

func (j *jails) close() {}

func (j *jails) start(newCmd func() *exec.Cmd) (*exec.Cmd, jail, error) {
	cmd := newCmd()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, procJail{cmd}, nil
}

type procJail struct{ cmd *exec.Cmd }

func (p procJail) kill()                   { p.cmd.Process.Kill() }
func (p procJail) leftovers() bool         { return false }
func (p procJail) wait(time.Duration) bool { return true }
func (p procJail) release()                {}
func (p procJail) String() string          { return "process" }

// watchExit cannot wait without reaping here: it returns at once, and the
// caller's Wait does the waiting.
func watchExit(int) {}

func limitData(int, int64) error { return nil }
