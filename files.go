package fbtftp

import (
	"context"
	"errors"

	"github.com/fbtftp-go/fbtftp/internal/content"
)

// NewFileHandler returns the stock handler: it serves regular files under
// the first root directory of the session's Settings (after the worker's
// chroot, usually "/"). Nothing escapes the root: a ".." component, a
// symbolic link that leads out of the root and anything but a regular file
// get ERROR 2; a missing file gets ERROR 1. Unless the Permissive flag is
// set (in.tftpd -p), only world-readable files are served. Content is read
// with ReadAt, so retransmissions need no buffer.
func NewFileHandler() Handler {
	return HandlerFunc(func(ctx context.Context, r *Request) (ResponseData, error) {
		if r.Settings == nil || len(r.Settings.Roots) == 0 {
			return nil, errors.New("no root directory configured")
		}
		store, err := content.OpenFileStore(r.Settings.Roots[0], r.Settings.Flags&FlagPermissive != 0)
		if err != nil {
			return nil, err
		}
		defer store.Close()
		f, err := store.Open(r.Filename)
		if err != nil {
			return nil, err
		}
		return FileResponse(f)
	})
}
