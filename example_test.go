package fbtftp_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// A custom worker: it answers "hello" with a greeting built for the client
// and refuses everything else with ERROR 1. Build it and start it with
// fbtftp-master --worker ./myworker.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
		if r.Filename != "hello" {
			return nil, tftp.ErrNotFound
		}
		return fbtftp.BytesResponse([]byte("hello " + r.Peer.Addr().String() + "\n")), nil
	})
	if err := fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
