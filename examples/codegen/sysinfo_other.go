//go:build !linux

package main

import (
	"errors"
	"time"
)

// sysinfo is not supported on this system: uptime.txt fails with ERROR 0.
func sysinfo() (time.Duration, [3]float64, error) {
	return 0, [3]float64{}, errors.ErrUnsupported
}
