//go:build !linux

package upgrade

import (
	"context"
	"errors"
)

// Start is not supported outside Linux.
func Start(context.Context, Config) (*Child, error) {
	return nil, errors.New("upgrade: not supported on this system")
}
