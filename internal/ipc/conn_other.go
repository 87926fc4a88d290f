//go:build !linux

package ipc

import (
	"errors"
	"fmt"
	"os"
)

// Socketpair creates the master's Conn and the worker's end of a socketpair.
// It is implemented on Linux only; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func Socketpair() (master *Conn, worker *os.File, err error) {
	return nil, nil, fmt.Errorf("ipc: socketpair: %w", errors.ErrUnsupported)
}

// FromFD returns the worker's Conn on descriptor fd. It is implemented on
// Linux only; elsewhere it returns an error wrapping ErrNotStartedByMaster
// and errors.ErrUnsupported.
func FromFD(fd int) (*Conn, error) {
	return nil, fmt.Errorf("%w: %w", ErrNotStartedByMaster, errors.ErrUnsupported)
}

func (c *Conn) send(b []byte, fd int) error { return errors.ErrUnsupported }

func (c *Conn) trySend(b []byte) error { return errors.ErrUnsupported }

func (c *Conn) recvMsg(wantFDs bool) ([]byte, []int, error) {
	return nil, nil, errors.ErrUnsupported
}

func (c *Conn) pending() (bool, error) { return false, errors.ErrUnsupported }

func closeFDs(fds []int) {}
