//go:build !linux

package ipc

import (
	"errors"
	"fmt"
	"os"
)

// SealWorkerConfig is implemented on Linux only.
func SealWorkerConfig(*WorkerConfig) (*os.File, error) {
	return nil, fmt.Errorf("ipc: worker configuration: %w", errors.ErrUnsupported)
}

// ReadWorkerConfig is implemented on Linux only.
func ReadWorkerConfig(int) (*WorkerConfig, error) {
	return nil, fmt.Errorf("%w: %w", ErrNotStartedByMaster, errors.ErrUnsupported)
}
