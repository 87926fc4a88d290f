package httporigin_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/fileserver"
	"github.com/fbtftp-go/fbtftp/httporigin"
)

// A custom worker's main: files from the root, and what the root does not
// have from an HTTP repository, cached on disk outside the root. Run it
// with fbtftp-master --worker PATH.
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// Built before ServeWorker: the cache directory is opened before the
	// worker's chroot.
	files, err := fileserver.New(fileserver.Config{})
	if err != nil {
		log.Fatal(err)
	}
	h, err := httporigin.New(files, httporigin.Config{
		Origin:   "http://repo.example/tftp/",
		CacheDir: "/var/cache/fbtftp",
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := fbtftp.ServeWorker(ctx, h, fbtftp.WorkerConfig{}); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// The same, configured by the master's --http-* options instead (what
// fbtftp-worker-http does); nil serves only from the origin.
func ExampleFromEnv() {
	h, err := httporigin.FromEnv(nil, os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	_ = fbtftp.ServeWorker(context.Background(), h, fbtftp.WorkerConfig{})
}
