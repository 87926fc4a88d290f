//go:build !linux

package master

import "errors"

var errNoProc = errors.New("no /proc")

func procRSS(int) (int64, error) { return 0, errNoProc }
func procFDs(int) (int, error)   { return 0, errNoProc }
func others(jail, int) bool      { return false }
