// Command fbtftp-worker is the stock worker: fbtftp-master starts one per
// session (or keeps a few ready with --prefork). It serves files from the
// root the master configures, confined to it. Run by hand, it explains that
// it must be started by the master and exits with status 2.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := fbtftp.ServeWorker(ctx, fbtftp.NewFileHandler(), fbtftp.WorkerConfig{})
	switch {
	case errors.Is(err, fbtftp.ErrNotStartedByMaster):
		fmt.Fprintln(os.Stderr, "fbtftp-worker: must be started by fbtftp-master (see fbtftp-master --help)")
		os.Exit(2)
	case err != nil:
		// The master already has the session's stats; this is for the log.
		fmt.Fprintln(os.Stderr, "fbtftp-worker:", err)
		os.Exit(1)
	}
}
