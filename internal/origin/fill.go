package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// fill is the fetch of an object into the cache. A goroutine copies the
// body, at the origin's pace, into a temporary file <key>.*.part while
// holding the entry lock; readers (the leader and its joiners) read the
// same file along as it grows, with ReadAt. When the body is complete and
// its length matches Content-Length, the file is synced and renamed to
// <key>.data, the metadata written, and the lock released.
//
// The file stays open while the goroutine or any reader uses it, so
// readers never depend on names: a failed or unpublishable fill removes
// its temporary file and readers finish from the open file.
type fill struct {
	ca     *Cache
	st     *counters // the Client's
	e      entry
	fl     *flight
	url    string // redacted, for errors
	resp   *http.Response
	cancel context.CancelCauseFunc
	lock   *os.File
	idle   time.Duration
	max    int64 // Client.MaxSize
	size   int64 // Content-Length, or -1
	m      meta
	tmp    string // file's name in the cache directory, until published

	// written is read without the lock by readers whose bytes are there.
	written atomic.Int64

	mu        sync.Mutex
	progress  chan struct{} // closed and replaced at each advance
	file      *os.File      // the data, nil once refs is zero
	refs      int           // the goroutine and the open readers
	done      bool
	err       error // why the fill failed, wrapped for the wire
	published bool  // file is the entry's data file
}

// startFill creates the temporary file, sets f.fill and starts the copy.
// On success it owns resp, cancel and lk.
func (c *Client) startFill(f *flight, e entry, u *url.URL, resp *http.Response, cancel context.CancelCauseFunc, lk *os.File) error {
	e.removeTemps()
	file, tmp, err := createTemp(e.root, e.key+".", ".part")
	if err != nil {
		return err
	}
	fl := &fill{
		ca: c.Cache, st: &c.counters, e: e, fl: f, url: u.Redacted(), resp: resp, cancel: cancel, lock: lk,
		idle: c.idleTimeout(), max: c.MaxSize, size: resp.ContentLength, tmp: tmp,
		m: meta{
			URL:          u.String(),
			ETag:         resp.Header.Get("ETag"),
			LastModified: resp.Header.Get("Last-Modified"),
		},
		// One reference for run, one for the flight (see flight).
		file: file, refs: 2, progress: make(chan struct{}),
	}
	if fl.size >= 0 {
		// Other processes waiting on the lock may read along (follow.go);
		// without the marker they wait for the published entry.
		e.writeMarker(fillMarker{URL: u.String(), Part: tmp, Size: fl.size})
	}
	c.Cache.mu.Lock()
	f.fill = fl
	c.Cache.mu.Unlock()
	c.Cache.fills.Add(1)
	go fl.run()
	return nil
}

func (fl *fill) run() {
	defer fl.ca.fills.Done()
	err := fl.copy()
	fl.resp.Body.Close()
	fl.cancel(nil)
	var perr error
	published := err == nil && fl.written.Load() <= fl.ca.maxBytes()
	if published {
		perr = fl.publish()
		published = perr == nil
	}
	fl.st.fill(published, errors.Join(err, perr))
	fl.e.root.Remove(fl.e.marker())
	if !published {
		// The origin answered 200: an older entry is outdated.
		fl.e.root.Remove(fl.tmp)
		fl.e.remove()
	}
	// Unlock before waking readers, so that an Open that follows a
	// finished read finds the entry free.
	fl.lock.Close()
	fl.ca.deregister(fl.e.key, fl.fl)
	fl.mu.Lock()
	fl.done, fl.published = true, published
	if err != nil {
		fl.err = wrap(errOrigin, fl.url, err)
	}
	close(fl.progress)
	fl.mu.Unlock()
	fl.release()
	if published {
		fl.st.evicted(fl.ca.evict(fl.e))
	}
}

// copy copies the body to the file, at most idle per read.
func (fl *fill) copy() error {
	ctx := fl.resp.Request.Context()
	timer := time.AfterFunc(fl.idle, func() { fl.cancel(ErrIdleTimeout) })
	defer timer.Stop()
	buf := make([]byte, copyBufSize)
	for {
		timer.Reset(fl.idle)
		n, rerr := fl.resp.Body.Read(buf)
		timer.Stop()
		if n > 0 {
			if _, err := fl.file.Write(buf[:n]); err != nil {
				return err
			}
			fl.mu.Lock()
			w := fl.written.Add(int64(n))
			close(fl.progress)
			fl.progress = make(chan struct{})
			fl.mu.Unlock()
			if fl.max > 0 && w > fl.max {
				return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, fl.max)
			}
		}
		switch {
		case errors.Is(rerr, io.EOF):
			if w := fl.written.Load(); fl.size >= 0 && w != fl.size {
				return fmt.Errorf("body ended after %d of %d bytes: %w", w, fl.size, io.ErrUnexpectedEOF)
			}
			return nil
		case rerr != nil:
			if errors.Is(context.Cause(ctx), ErrIdleTimeout) {
				return fmt.Errorf("%w after %s: %w", ErrIdleTimeout, fl.idle, rerr)
			}
			return rerr
		}
	}
}

// publish makes the complete file the entry: sync, drop the old metadata,
// rename the data into place, then write the new metadata. A crash in
// between leaves data without metadata, which reads as a miss.
func (fl *fill) publish() error {
	if err := fl.file.Sync(); err != nil {
		return err
	}
	fl.e.root.Remove(fl.e.meta())
	if err := fl.e.root.Rename(fl.tmp, fl.e.data()); err != nil {
		return err
	}
	fl.m.Size = fl.written.Load()
	fl.m.Validated = time.Now().UnixNano()
	if err := fl.e.writeMeta(fl.m); err != nil {
		fl.e.root.Remove(fl.e.data())
		return err
	}
	fl.e.touch()
	return nil
}

// release drops one reference to the file, closing it with the last.
func (fl *fill) release() {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.refs--; fl.refs == 0 {
		fl.file.Close()
		fl.file = nil
	}
}

// reader returns a reader of the fill. When the fill has already ended and
// its file is closed, it opens the published entry instead.
func (fl *fill) reader(ctx context.Context) (Content, error) {
	fl.mu.Lock()
	if fl.file == nil {
		published, size, err := fl.published, fl.written.Load(), fl.err
		fl.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if !published {
			return nil, errGone
		}
		return openEntry(fl.e, size)
	}
	fl.refs++
	fl.mu.Unlock()
	return &fillReader{fl: fl, ctx: ctx}, nil
}

// fillReader reads a fill as it progresses. It implements io.ReaderAt:
// a ReadAt past the bytes fetched so far waits for them (as io.ReaderAt
// allows), for at most the fill's idle timeout per chunk, or until the
// reader's ctx ends.
type fillReader struct {
	fl     *fill
	ctx    context.Context
	off    int64 // for Read
	closed bool
}

// wait waits until need bytes from off are available or the fill has
// ended or ctx is done, and returns the bytes available from off. Bytes
// already fetched are found without the lock.
func (r *fillReader) wait(off, need int64) (avail int64, err error) {
	fl := r.fl
	for {
		if w := fl.written.Load(); w >= off+need {
			return w - off, nil
		}
		fl.mu.Lock()
		w, done, ferr, progress := fl.written.Load(), fl.done, fl.err, fl.progress
		fl.mu.Unlock()
		avail = max(w-off, 0)
		switch {
		case avail >= need:
			return avail, nil
		case ferr != nil:
			return avail, ferr
		case done:
			return avail, io.EOF
		}
		select {
		case <-progress:
		case <-r.ctx.Done():
			return avail, wrap(errOrigin, fl.url, context.Cause(r.ctx))
		}
	}
}

// ReadAt reads len(p) bytes at off, waiting for them to be fetched.
func (r *fillReader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	avail, werr := r.wait(off, int64(len(p)))
	n := int(min(avail, int64(len(p))))
	if n == 0 {
		return 0, werr
	}
	m, err := r.fl.file.ReadAt(p[:n], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return m, wrap(errOrigin, r.fl.url, err)
	}
	if m < len(p) {
		if werr == nil {
			werr = io.ErrUnexpectedEOF
		}
		return m, werr
	}
	return m, nil
}

// Read reads the next bytes, waiting for at least one.
func (r *fillReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.closed {
		return 0, os.ErrClosed
	}
	avail, werr := r.wait(r.off, 1)
	n := int(min(avail, int64(len(p))))
	if n == 0 {
		return 0, werr
	}
	m, err := r.fl.file.ReadAt(p[:n], r.off)
	r.off += int64(m)
	if err != nil && !errors.Is(err, io.EOF) {
		return m, wrap(errOrigin, r.fl.url, err)
	}
	return m, nil
}

// Size returns the Content-Length and true, or false for a chunked reply.
func (r *fillReader) Size() (int64, bool) { return r.fl.size, r.fl.size >= 0 }

// Source reports the content as fetched from the origin into the cache during the session (fbtftp.Source).
func (r *fillReader) Source() stats.Source { return stats.SourceOrigin }

// Close releases the reader. The fill goes on for the cache.
func (r *fillReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.fl.release()
	return nil
}
