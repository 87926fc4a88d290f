package workermain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
	"github.com/fbtftp-go/fbtftp/internal/wlog"
)

// FileServer is the stock file server with the master's template data.
func FileServer(w *fbtftp.Worker) (fbtftp.Handler, error) {
	return fileserver.New(fileserver.Config{TemplateData: w.TemplateData()})
}

// Run connects to the master, builds the handler (before the sandbox),
// serves one session and exits: status 2 when not started by
// fbtftp-master, 1 on a failed session or handler, 0 otherwise.
func Run(name string, build func(*fbtftp.Worker) (fbtftp.Handler, error)) {
	// No signal handler: the master stops a session by closing its end of
	// the socketpair (EOF), and os/signal would cost two threads.
	ctx := context.Background()
	w, err := fbtftp.Connect()
	if err == nil {
		var h fbtftp.Handler
		if h, err = build(w); err == nil {
			err = w.Serve(ctx, h, fbtftp.WorkerConfig{})
		}
	}
	switch {
	case errors.Is(err, fbtftp.ErrNotStartedByMaster):
		fmt.Fprintf(os.Stderr, "%s: must be started by fbtftp-master (see fbtftp-master --help)\n", name)
		os.Exit(2)
	case err != nil:
		// The master already has the session's stats; this is for the
		// log, in the master's format (one stream: JSON lines stay JSON).
		log := wlog.New(os.Stderr, name, os.Getenv(wlog.EnvFormat), 0)
		log.Error("worker failed", slog.Int("pid", os.Getpid()), slog.Any("error", err))
		os.Exit(1)
	}
}
