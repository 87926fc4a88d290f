//go:build !linux

package main

import (
	"errors"
)

func treePSS(int) (int64, int, error) { return 0, 0, errors.New("PSS needs Linux /proc") }
