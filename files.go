package fbtftp

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/fbtftp-go/fbtftp/internal/content"
	"github.com/fbtftp-go/fbtftp/internal/tmpl"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// NewFileHandler returns the stock handler: it serves regular files under
// the first root directory of the session's Settings (after the worker's
// chroot, usually "/"). Nothing escapes the root: a ".." component, a
// symbolic link that leads out of the root and anything but a regular file
// get ERROR 2; a missing file gets ERROR 1. Unless the Permissive flag is
// set (in.tftpd -p), only world-readable files are served. Content is read
// with ReadAt, so retransmissions need no buffer.
//
// The handler also implements WriteHandler, with tftpd-hpa's upload rules:
// an existing file is replaced only if it is a regular file and, unless
// Permissive, world-writable ("File must have global write permissions");
// a missing one is created only with Create (in.tftpd -c; else ERROR 1),
// with mode 0666 &^ Settings.Umask; ReadOnly refuses every upload. The
// data goes to a temporary file in the target's directory (".NAME.fbtftp-upload",
// mode 0600, locked with flock), which is fsynced and renamed over the
// target after the last block: a failed upload leaves the old file as it
// was, a download sees the old or the new content, and a second upload of
// the same file while one runs gets ERROR 2. The worker's user needs write
// permission on the directory. Downloads of the temporary files' names get
// ERROR 1. See content.FileStore.Upload for details.
//
// Templates: a name ending in ".tmpl", or a missing name whose ".tmpl"
// file exists, is rendered per client with text/template (see
// docs/templates.md): client IP and MAC, the requested name, the local
// address, the host name and the values of the --template-data file for
// this client. The data file is read here, before the worker's chroot.
func NewFileHandler() Handler {
	values, err := loadTemplateValues()
	return fileHandler{values: values, valuesErr: err}
}

type fileHandler struct {
	values    tmpl.Store // --template-data, keyed by MAC or IP
	valuesErr error      // the data file could not be read
}

var _ WriteHandler = fileHandler{}

// openStore picks the root for the request (with -s the one root;
// without, the listed directory the absolute name lies in) and returns
// the store and the name relative to it.
func openStore(r *Request) (*content.FileStore, string, error) {
	if r.Settings == nil || len(r.Settings.Roots) == 0 {
		return nil, "", errors.New("no root directory configured")
	}
	name := r.Path
	if name == "" {
		name = r.Filename
	}
	root, rel, err := content.Resolve(name, r.Settings.Roots, r.Settings.Secure)
	if err != nil {
		return nil, "", err
	}
	s, err := content.OpenFileStore(root, r.Settings.Permissive)
	return s, rel, err
}

// ServeTFTP opens the requested file for a download.
func (h fileHandler) ServeTFTP(ctx context.Context, r *Request) (ResponseData, error) {
	if content.IsUploadTemp(r.Path) || content.IsUploadTemp(r.Filename) {
		// An upload in progress: never serve part of it.
		return nil, &tftp.Error{Code: tftp.CodeNotFound, Message: tftp.CodeNotFound.String()}
	}
	if _, ok := r.Route(); ok {
		// A map rule routes to an HTTP origin: only fbtftp-worker-http
		// (package httporigin) fetches those.
		if r.Logger != nil {
			r.Logger.Error("the route is a URL but this worker has no HTTP support: run fbtftp-worker-http",
				slog.String("route", r.Path))
		}
		return nil, &tftp.Error{Code: tftp.CodeUndefined, Message: "server error"}
	}
	store, rel, err := openStore(r)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return h.serveOrRender(ctx, r, store, rel)
}

// ReceiveTFTP starts an upload of the requested file.
func (fileHandler) ReceiveTFTP(ctx context.Context, r *Request) (WriteTarget, error) {
	store, rel, err := openStore(r)
	if err != nil {
		return nil, err
	}
	defer store.Close() // the upload keeps its own handle on the directory
	set := r.Settings
	if set.ReadOnly {
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Message: msgUploadsDisabled}
	}
	u, err := store.Upload(rel, content.UploadOptions{
		Create: set.Create,
		Umask:  set.Umask,
	})
	if errors.Is(err, content.ErrDirNotWritable) && r.Logger != nil {
		r.Logger.Warn("upload refused: the worker's user cannot create the temporary file in the target's directory; "+
			"make the directory writable by the -u user", slog.Any("error", err))
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// IsURL reports whether s starts with http:// or https:// (any case). See
// Request.Route for when a request's Path is a route to an HTTP origin.
func IsURL(s string) bool {
	return hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
