// Command static is the fbtftp-go version of fbtftp's example server: a
// custom worker that serves the files of the master's root directory and
// logs every request. Build it and point the master at it:
//
//	go build -o bin/static-worker ./examples/static
//	fbtftp-master -L -a 127.0.0.1:6969 -s demo/root --worker bin/static-worker
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
)

// serve opens the requested file under the session's root: os.Root keeps
// ".." and symbolic links from leaving it.
func serve(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	r.Logger.Info("static request", "peer", r.Peer.String(), "file", r.Filename)
	root, err := os.OpenRoot(r.Settings.Roots[0])
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// fs.ErrNotExist becomes ERROR 1, fs.ErrPermission ERROR 2, a path
	// that leaves the root ERROR 0 (details only in the log).
	f, err := root.Open(strings.TrimLeft(r.Filename, "/"))
	if err != nil {
		return nil, err
	}
	return fbtftp.FileResponse(f)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := fbtftp.ServeWorker(ctx, fbtftp.HandlerFunc(serve), fbtftp.WorkerConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, "static:", err)
		os.Exit(1)
	}
}
