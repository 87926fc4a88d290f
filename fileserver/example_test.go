package fileserver_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
)

// fbtftp-worker in full: connect to the master, build the file server
// with the template data the master checked, serve one session.
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	w, err := fbtftp.Connect()
	if err != nil {
		os.Exit(2) // not started by fbtftp-master
	}
	h, err := fileserver.New(fileserver.Config{TemplateData: w.TemplateData()})
	if err != nil {
		os.Exit(1)
	}
	if err := w.Serve(ctx, h, fbtftp.WorkerConfig{}); err != nil {
		os.Exit(1)
	}
}
