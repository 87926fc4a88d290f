package fbtftp_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
)

// A custom worker: it answers "hello" with a greeting built for the client
// and refuses everything else with ERROR 1. Build it and start it with
// fbtftp-master --worker ./myworker.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h := fbtftp.HandlerFunc(func(ctx context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
		if r.Filename != "hello" {
			return nil, fbtftp.ErrNotFound
		}
		return fbtftp.BytesResponse([]byte("hello " + r.Peer.Addr().String() + "\n")), nil
	})
	if err := fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// Handlers choose the ERROR a client gets with *fbtftp.Error; other errors
// map to codes through WireError.
func ExampleWireError() {
	code, msg := fbtftp.WireError(&fbtftp.Error{Code: fbtftp.CodeAccessViolation, Message: "not for you"})
	fmt.Println(code, msg)
	code, msg = fbtftp.WireError(os.ErrNotExist)
	fmt.Println(code, msg)
	// Output:
	// Access violation not for you
	// File not found File not found
}
