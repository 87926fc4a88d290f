package fbtftp

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/internal/stats"
	"github.com/fbtftp-go/fbtftp/internal/transfer"
	"github.com/fbtftp-go/fbtftp/internal/udp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// WriteHandler is implemented by a Handler that accepts uploads (WRQ). The
// worker finds it by type assertion; a Handler without it answers every
// WRQ with ERROR 2. ReceiveTFTP runs in the worker, sandboxed, like
// ServeTFTP. It returns where the data goes, or an error that becomes the
// ERROR packet (see tftp.WireError); nothing has been sent to the client yet.
//
// Before calling it the worker has already refused the WRQ when the
// ReadOnly flag is set (ERROR 2) and when the client announced with tsize a
// size above Settings.MaxUpload (ERROR 3). While the data arrives it stops
// at MaxUpload bytes (ERROR 3 and Abort), decodes netascii (the target
// receives local text: CR LF -> LF, CR NUL -> CR) and calls Commit after
// the last block, before the final ACK.
type WriteHandler interface {
	ReceiveTFTP(ctx context.Context, r *Request) (WriteTarget, error)
}

// WriteTarget receives the data of one upload, in order, with Write. Then
// exactly one of Commit and Abort is called, except that Abort may follow a
// failed Commit:
//   - Commit makes the data durable and visible at once (for files: fsync,
//     then rename over the old file). It runs before the final ACK; an
//     error is sent to the client instead (ENOSPC and EDQUOT as ERROR 3).
//   - Abort discards everything written, leaving any previous content as
//     it was. It is called when the transfer fails for any reason: the
//     client's ERROR, timeout, shutdown, a Write or Commit error.
//
// A worker killed mid-upload calls neither: a target that keeps state
// outside the process must cope with that (the stock file target leaves a
// temporary file that the next upload of the file, or the master, removes).
type WriteTarget interface {
	io.Writer
	Commit() error
	Abort() error
}

// Wire messages of upload refusals made by the worker.
const (
	msgUploadsDisabled  = "Uploads are not enabled"
	msgUploadsNotServed = "Uploads are not supported"
	// msgTooLarge goes with ERROR 3 when an upload exceeds MaxUpload.
	msgTooLarge = "File too large"
)

// errTooLarge is a client's fault: the session is refused, not failed.
var errTooLarge = &tftp.Error{Code: tftp.CodeDiskFull, Message: msgTooLarge}

// serveUpload runs a WRQ session: checks, the handler's target, the
// transfer, and Commit or Abort.
func serveUpload(ctx context.Context, h Handler, r *Request, sess *udp.SessionConn, st *stats.SessionStats, report progressFunc) error {
	set := r.Settings
	if set.ReadOnly {
		return refuse(sess, r.Peer, st, &tftp.Error{Code: tftp.CodeAccessViolation, Message: msgUploadsDisabled})
	}
	wh, ok := implementation[WriteHandler](h)
	if !ok {
		return refuse(sess, r.Peer, st, &tftp.Error{Code: tftp.CodeAccessViolation, Message: msgUploadsNotServed})
	}
	params := proto.Negotiate(tftp.OpWRQ, r.Options, proto.Limits{
		MaxBlksize:    set.MaxBlksize,
		MaxWindowsize: set.MaxWindowsize,
		Refuse:        set.Refuse,
	}, -1)
	if set.MaxUpload > 0 && params.Tsize > set.MaxUpload {
		// RFC 2349: the WRQ announces the size so that a receiver that
		// cannot take it refuses at once, with ERROR 3, before any data.
		refuse(sess, r.Peer, st, errTooLarge)
		return nil
	}
	target, err := receiveTFTP(ctx, wh, r)
	if err != nil {
		if ctx.Err() != nil {
			return transfer.Stopped(ctx, st, func(code tftp.ErrorCode, msg string) {
				refuse(sess, r.Peer, st, &tftp.Error{Code: code, Message: msg})
			})
		}
		return refuse(sess, r.Peer, st, err)
	}
	sink := &uploadSink{target: target, limit: set.MaxUpload, w: target}
	if r.Mode == "netascii" {
		sink.dec = proto.NewNetasciiDecoder(target)
		sink.w = sink.dec
	}
	// The client's ERROR, a timeout or a shutdown: the session is over.
	defer sink.abort(r.Logger)
	tr := &transfer.Transfer{
		Conn:   sess,
		Peer:   r.Peer,
		Params: params,
		Config: transfer.Config{Timeout: set.Timeout, Retries: set.Retries},
		Stats:  st,
	}
	tr.Config.Trace = packetTrace(ctx, r.Logger, set.Verbosity)
	tr.Config.Progress = report.of(params.Tsize) // the size the client announced, or -1
	err = tr.Receive(ctx, sink)
	if e := (*tftp.Error)(nil); errors.As(err, &e) && e == errTooLarge {
		return nil // the client was told; not our fault
	}
	return err
}

// receiveTFTP calls h.ReceiveTFTP through callHandler.
func receiveTFTP(ctx context.Context, h WriteHandler, r *Request) (WriteTarget, error) {
	return callHandler(func() (WriteTarget, error) { return h.ReceiveTFTP(ctx, r) })
}

// uploadSink sits between the transfer engine and the target: it enforces
// MaxUpload on the bytes received (the wire size, what tsize announces),
// decodes netascii, and flushes the decoder before the target's Commit.
//
// When a Write or the Commit fails it aborts the target at once, before the
// engine sends the ERROR: a client told of the failure finds nothing left.
type uploadSink struct {
	target WriteTarget
	w      io.Writer // target, or dec writing to it
	dec    *proto.NetasciiDecoder
	limit  int64 // 0: none
	n      int64
	done   bool // committed or aborted
	err    error
}

func (s *uploadSink) Write(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("upload already finished")
	}
	if s.limit > 0 && s.n+int64(len(p)) > s.limit {
		s.fail()
		return 0, errTooLarge
	}
	s.n += int64(len(p))
	n, err := s.w.Write(p)
	if err != nil {
		s.fail()
	}
	return n, err
}

// Commit implements transfer.Committer.
func (s *uploadSink) Commit() error {
	if s.done {
		return errors.New("upload already finished")
	}
	err := func() error {
		if s.dec != nil {
			if err := s.dec.Flush(); err != nil {
				return err
			}
		}
		return s.target.Commit()
	}()
	if err != nil {
		s.fail()
		return err
	}
	s.done = true
	return nil
}

// fail aborts the target after an error and remembers how that went.
func (s *uploadSink) fail() {
	s.done = true
	s.err = s.target.Abort()
}

// abort ends the upload for good: aborts the target unless it was
// committed or aborted already, and logs a failed Abort.
func (s *uploadSink) abort(log *slog.Logger) {
	if !s.done {
		s.fail()
	}
	if s.err != nil {
		log.Error("upload abort failed", slog.Any("error", s.err))
	}
}
