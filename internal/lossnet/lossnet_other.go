//go:build !linux

package lossnet

import (
	"context"
	"fmt"
	"os/exec"
)

// Net is unavailable outside Linux.
type Net struct {
	Server, Client string
}

// Available reports that network namespaces need Linux.
func Available() error { return fmt.Errorf("%w: needs Linux network namespaces", ErrUnavailable) }

// New fails outside Linux.
func New(context.Context) (*Net, error) { return nil, Available() }

// SetLoss fails outside Linux.
func (n *Net) SetLoss(context.Context, float64) error { return Available() }

// Drops fails outside Linux.
func (n *Net) Drops(context.Context, Side) (uint64, error) { return 0, Available() }

// Command returns a command that fails outside Linux.
func (n *Net) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}

// Do fails outside Linux.
func (n *Net) Do(string, func() error) error { return Available() }

// Close does nothing outside Linux.
func (n *Net) Close() error { return nil }
