// Command minimal is the smallest useful custom worker, the first step of
// docs/custom-worker.md: it answers "hello" with a greeting for the client
// and everything else with ERROR 1.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
		if r.Path != "hello" {
			return nil, tftp.ErrNotFound // ERROR 1 File not found
		}
		return fbtftp.BytesResponse([]byte("hello " + r.Peer.Addr().String() + "\n")), nil
	})
	if err := fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}
