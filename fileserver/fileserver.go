package fileserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/content"
	"github.com/fbtftp-go/fbtftp/internal/tmpl"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// Config configures the file server. The zero value serves files and
// templates with no data file.
type Config struct {
	// TemplateData is the contents of a template data file (JSON values
	// keyed by MAC or IP, see docs/templates.md): fbtftp-master's
	// --template-data, which a worker gets from fbtftp.Worker.TemplateData.
	// Empty: templates see no values.
	TemplateData []byte
}

// New returns the file server: it serves regular files under the first
// root directory of the session's Settings (after the worker's chroot,
// usually "/"). Nothing escapes the root: a ".." component, a symbolic link
// that leads out of the root and anything but a regular file get ERROR 2;
// a missing file gets ERROR 1. Unless Settings.Permissive is set (in.tftpd
// -p), only world-readable files are served. Content is read with ReadAt,
// so retransmissions need no buffer.
//
// The handler also implements fbtftp.WriteHandler, with tftpd-hpa's upload
// rules: an existing file is replaced only if it is a regular file and,
// unless Permissive, world-writable ("File must have global write
// permissions"); a missing one is created only with Settings.Create
// (in.tftpd -c; else ERROR 1), with mode 0666 &^ Settings.Umask;
// Settings.ReadOnly refuses every upload. The data goes to a temporary
// file in the target's directory (".NAME.fbtftp-upload", mode 0600, locked
// with flock), which is fsynced and renamed over the target after the last
// block: a failed upload leaves the old file as it was, a download sees the
// old or the new content, and a second upload of the same file while one
// runs gets ERROR 2. The worker's user needs write permission on the
// directory. Downloads of the temporary files' names get ERROR 1.
//
// Templates: a name ending in ".tmpl", or a missing name whose ".tmpl" file
// exists, is rendered per client with text/template (see
// docs/templates.md): client IP and MAC, the requested name, the local
// address, the host name and the values of cfg.TemplateData for this
// client.
//
// New returns an error when cfg.TemplateData is not a valid data file.
func New(cfg Config) (fbtftp.Handler, error) {
	var h fileHandler
	if len(cfg.TemplateData) > 0 {
		var err error
		if h.values, err = tmpl.ParseValues(cfg.TemplateData); err != nil {
			return nil, fmt.Errorf("template data: %w", err)
		}
	}
	return h, nil
}

type fileHandler struct {
	values tmpl.Store // template data, keyed by MAC or IP
}

var _ fbtftp.WriteHandler = fileHandler{}

// openStore picks the root for the request (with -s the one root;
// without, the listed directory the absolute name lies in) and returns
// the store and the name relative to it.
func openStore(r *fbtftp.Request) (*content.FileStore, string, error) {
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
func (h fileHandler) ServeTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
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
func (fileHandler) ReceiveTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.WriteTarget, error) {
	store, rel, err := openStore(r)
	if err != nil {
		return nil, err
	}
	defer store.Close() // the upload keeps its own handle on the directory
	set := r.Settings
	if set.ReadOnly {
		return nil, &tftp.Error{Code: tftp.CodeAccessViolation, Message: "Uploads are not enabled"}
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
