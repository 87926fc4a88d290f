package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Body is an origin response streamed as it arrives: an io.Reader (not an
// io.ReaderAt), so the TFTP engine reads it once, sequentially, and keeps
// the blocks of the current window in its own ring buffer for
// retransmissions; nothing is refetched and nothing is buffered here
// beyond net/http's connection buffers, whatever the object's size.
//
// A Read that waits longer than the Client's IdleTimeout for bytes aborts
// the download; the time between reads (the TFTP client's pace) is not
// counted. Errors carry TFTP code 0.
type Body struct {
	body   io.ReadCloser
	ctx    context.Context // the request's
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
	size   int64 // Content-Length, or -1
	max    int64 // MaxSize, or 0
	n      int64 // bytes read so far
	url    string
	err    error     // sticky error, already wrapped
	st     *counters // the Client's: a broken body is counted once
	pend   []byte    // read from the body already (by a cache fill), to return first
}

func newBody(resp *http.Response, cancel context.CancelCauseFunc, idle time.Duration, max int64, url string, st *counters) *Body {
	b := &Body{body: resp.Body, ctx: resp.Request.Context(), cancel: cancel, idle: idle, size: resp.ContentLength, max: max, url: url, st: st}
	b.timer = time.AfterFunc(idle, func() { cancel(ErrIdleTimeout) })
	b.timer.Stop()
	return b
}

// Read reads the next bytes of the body.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(b.pend) > 0 {
		n := copy(p, b.pend)
		b.pend = b.pend[n:]
		return n, nil
	}
	b.timer.Reset(b.idle)
	n, err := b.body.Read(p)
	b.timer.Stop()
	b.n += int64(n)
	if b.max > 0 && b.n > b.max {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.max)
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		if b.size >= 0 && b.n != b.size {
			b.err = wrap(errOrigin, b.url, fmt.Errorf("body ended after %d of %d bytes: %w", b.n, b.size, io.ErrUnexpectedEOF))
			b.st.fail(b.err, stats.OriginBody)
			return n, b.err
		}
		return n, io.EOF
	default:
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrIdleTimeout) {
			err = fmt.Errorf("%w after %s: %w", ErrIdleTimeout, b.idle, err)
		}
		b.err = wrap(errOrigin, b.url, err)
		// Not the origin's failure when the session ended the download.
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrIdleTimeout) {
			b.st.fail(b.err, stats.OriginBody)
		}
	}
	return n, b.err
}

// Size returns the Content-Length and true, or false for a chunked reply.
func (b *Body) Size() (int64, bool) { return b.size, b.size >= 0 }

// Source reports the content as fetched from the origin during the session (tftp.Source).
func (b *Body) Source() stats.Source { return stats.SourceOrigin }

// Close ends the download and releases the connection.
func (b *Body) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel(nil)
	return err
}

// File is a published cache entry: an *os.File read with ReadAt, so
// retransmissions read the disk again instead of buffering.
type File struct {
	*os.File
	size int64
}

// Size returns the entry's length and true.
func (f *File) Size() (int64, bool) { return f.size, true }

// Source reports the content as a complete cached copy (tftp.Source).
func (f *File) Source() stats.Source { return stats.SourceCache }
