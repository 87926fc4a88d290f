//go:build !linux

package content

import (
	"errors"
	"os"
)

func openInRoot(dir *os.File, rel string, flags int) (*os.File, error) {
	return nil, errors.ErrUnsupported
}
