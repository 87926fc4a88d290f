//go:build !linux

package sandbox

import "errors"

// Apply is only implemented on Linux.
func Apply(s Spec) error {
	if s.Chroot != "" || s.Drop {
		return errors.New("sandbox: not supported on this system")
	}
	return nil
}

// Landlocked returns 0: Landlock is Linux's.
func Landlocked() int { return 0 }
