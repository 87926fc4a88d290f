//go:build !linux

package main

import (
	"errors"
	"os"
	"syscall"
)

func closeInheritedOnExec()              {}
func isDatagramSocket(int) bool          { return false }
func redirectFD(*os.File, int) error     { return errors.ErrUnsupported }
func currentUmask() uint32               { return 0o022 }
func detachedAttr() *syscall.SysProcAttr { return nil }
