//go:build !linux

package sandbox

import "errors"

// Apply is only implemented on Linux.
func Apply(s Spec) (Applied, error) {
	if s.Chroot != "" || s.Drop {
		return Applied{}, errors.New("sandbox: not supported on this system")
	}
	return Applied{}, nil
}
