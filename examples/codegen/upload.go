package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// ReceiveTFTP accepts uploads (WRQ) to upload/NAME and throws the data
// away, counting it: a sink to test clients and links with. Its presence
// makes handler a fbtftp.WriteHandler; without it every WRQ gets ERROR 2.
func (handler) ReceiveTFTP(ctx context.Context, r *fbtftp.Request) (fbtftp.WriteTarget, error) {
	name, ok := strings.CutPrefix(strings.TrimLeft(r.Path, "/"), "upload/")
	if !ok || name == "" {
		return nil, tftp.ErrNotFound
	}
	return &discard{log: r.Logger, name: name}, nil
}

// discard is the WriteTarget of one upload. The worker calls Write with the
// data in order, then exactly one of Commit (after the last block, before
// the final ACK: an error here reaches the client) and Abort (the transfer
// failed: client error, timeout, shutdown, data beyond --max-upload).
type discard struct {
	log  *slog.Logger
	name string
	n    int64
}

func (d *discard) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return len(p), nil
}

func (d *discard) Commit() error {
	d.log.Info("upload discarded", slog.String("name", d.name), slog.Int64("bytes", d.n))
	return nil
}

func (d *discard) Abort() error {
	d.log.Info("upload aborted", slog.String("name", d.name), slog.Int64("bytes", d.n))
	return nil
}
