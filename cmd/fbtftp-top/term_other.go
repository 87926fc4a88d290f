//go:build !linux

package main

import (
	"errors"
	"os"
)

var errNoTerminal = errors.New("terminal control is implemented on Linux only")

// isTerminal is false off Linux: batch mode.
func isTerminal(*os.File) bool { return false }

func cbreak(*os.File) (func(), error) { return nil, errNoTerminal }

func termSize(*os.File) (width, height int) { return envSize() }
