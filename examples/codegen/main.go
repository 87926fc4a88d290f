// Command codegen is a custom worker whose files are built in code, per
// request, instead of read from a directory:
//
//   - hello.txt: a greeting naming the client's address;
//   - ipxe/boot.ipxe: an iPXE script for the client that chains the kernel
//     at the master's "kernel-url" setting (Request.Extra), or a default;
//   - uptime.txt: the machine's uptime, streamed as it is produced, so its
//     size is unknown and tsize is not acknowledged;
//   - upload/NAME: an upload sink that counts the bytes and discards them.
//
// Any other name is ERROR 1. docs/custom-worker.md walks through it. Build
// it and point the master at it:
//
//	CGO_ENABLED=0 go build -o bin/codegen ./examples/codegen
//	fbtftp-master -L -a 127.0.0.1:6969 -s demo/root --worker bin/codegen
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := fbtftp.ServeWorker(ctx, handler{}, fbtftp.WorkerConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, "codegen:", err)
		os.Exit(1)
	}
}
