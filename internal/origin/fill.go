package origin

import (
	"bytes"
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
// Every byte is reserved before it is written (Cache.reserve): all of a
// known Content-Length at the start, a step at a time for a chunked body.
// A chunked body that outgrows the cache stops the fill; the reader that
// reaches the end of the file then takes the rest of the body over (tail)
// and streams it, so the client still gets the whole object and the disk
// holds no more than MaxBytes.
//
// The file stays open while the goroutine or any reader uses it, so
// readers never depend on names. A fill that is not published keeps its
// temporary file (counted by the budget) and its lock until its last
// reader is done, then deletes the file; it removes its marker at once,
// so that readers in other processes fail at once.
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

	reserved int64  // bytes reserved for the file; run's alone
	pending  []byte // a chunk read but not written when the body outgrew the cache; run's alone

	// written is read without the lock by readers whose bytes are there.
	written atomic.Int64

	mu        sync.Mutex
	progress  chan struct{} // closed and replaced at each advance
	file      *os.File      // the data, nil once refs is zero
	refs      int           // the goroutine and the open readers
	done      bool
	err       error // why the fill failed, wrapped for the wire
	published bool  // file is the entry's data file
	oversize  bool  // the body outgrew MaxBytes: leave a note
	overflow  bool  // the body outgrew the cache: the rest is in tail
	tail      *Body // the rest of the body, until a reader takes it or the last reference goes
}

// startFill creates the temporary file, reserves the first bytes, sets
// f.fill and starts the copy. On success it owns resp, cancel and lk. It
// fails with errNoRoom when no room can be made for the object.
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
	first := fl.size
	if first < 0 {
		first = min(c.Cache.reserveStep(), c.Cache.maxBytes())
	}
	if err := c.Cache.reserve(e, file, 0, first, &c.counters); err != nil {
		file.Close()
		e.root.Remove(tmp)
		return err
	}
	fl.reserved = first
	if fl.size >= 0 {
		// Other processes waiting on the lock may read along (follow.go);
		// without the marker they wait for the published entry.
		e.writeMarker(fillMarker{URL: u.String(), Part: tmp, Size: fl.size})
	}
	c.Cache.mu.Lock()
	f.fill = fl
	if c.Cache.running == nil {
		c.Cache.running = make(map[*fill]struct{})
	}
	c.Cache.running[fl] = struct{}{}
	c.Cache.mu.Unlock()
	c.Cache.ctr.fillsStarted.Add(1)
	c.Cache.fills.Add(1)
	go fl.run()
	return nil
}

func (fl *fill) run() {
	defer fl.ca.fills.Done()
	err := fl.copy()
	overflow := errors.Is(err, errOversize) || errors.Is(err, errNoRoom)
	var tail *Body
	if overflow {
		// The rest of the body is the readers': the one that reaches the
		// end of the file streams it.
		tail = newBody(fl.resp, fl.cancel, fl.idle, fl.max, fl.url, fl.st)
		tail.pend, tail.n = fl.pending, fl.written.Load()+int64(len(fl.pending))
		fl.pending = nil
	} else {
		fl.resp.Body.Close()
		fl.cancel(nil)
	}
	var perr error
	if err == nil {
		perr = fl.publish()
	}
	published := err == nil && perr == nil
	fl.e.root.Remove(fl.e.marker())
	if published {
		// Unlock before waking readers, so that an Open that follows a
		// finished read finds the entry free.
		fl.e.unlock(fl.lock)
	}
	fl.ca.deregister(fl.e.key, fl.fl)
	fl.ca.mu.Lock()
	delete(fl.ca.running, fl)
	fl.ca.mu.Unlock()
	fl.count(errors.Join(err, perr), published)
	fl.mu.Lock()
	fl.done, fl.published = true, published
	fl.oversize = errors.Is(err, errOversize)
	fl.overflow, fl.tail = overflow, tail
	if err != nil && !overflow {
		fl.err = wrap(errOrigin, fl.url, err)
	}
	close(fl.progress)
	fl.mu.Unlock()
	fl.release()
}

// count adds the fill's outcome to the Cache's counters and the Client's
// (for the metrics: aborted fills, with an error class when the origin
// failed).
func (fl *fill) count(err error, published bool) {
	fl.st.fill(published, err)
	ctr := &fl.ca.ctr
	ctr.bytesFilled.Add(uint64(fl.written.Load()))
	switch {
	case published:
		ctr.fillsPublished.Add(1)
		return
	case errors.Is(err, errOversize), errors.Is(err, errNoRoom):
		ctr.abortedBudget.Add(1)
	case errors.Is(err, ErrTooLarge):
		ctr.abortedTooLarge.Add(1)
	case errors.Is(err, ErrFillTimeout):
		ctr.abortedTimeout.Add(1)
	}
	ctr.fillsAborted.Add(1)
}

// copy copies the body to the file, at most idle per read, reserving
// the bytes before it writes them.
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
			w := fl.written.Load()
			if fl.max > 0 && w+int64(n) > fl.max {
				return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, fl.max)
			}
			if err := fl.grow(w + int64(n)); err != nil {
				fl.pending = bytes.Clone(buf[:n])
				return err
			}
			if _, err := fl.file.Write(buf[:n]); err != nil {
				return err
			}
			fl.mu.Lock()
			fl.written.Add(int64(n))
			close(fl.progress)
			fl.progress = make(chan struct{})
			fl.mu.Unlock()
		}
		switch {
		case errors.Is(rerr, io.EOF):
			if w := fl.written.Load(); fl.size >= 0 && w != fl.size {
				return fmt.Errorf("body ended after %d of %d bytes: %w", w, fl.size, io.ErrUnexpectedEOF)
			}
			return nil
		case rerr != nil:
			if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
				if errors.Is(cause, ErrIdleTimeout) {
					cause = fmt.Errorf("%w after %s", ErrIdleTimeout, fl.idle)
				}
				return fmt.Errorf("%w: %w", cause, rerr)
			}
			return rerr
		}
	}
}

// grow makes sure the file has a reservation of need bytes: a fill of
// unknown size reserves the next step, up to MaxBytes (errOversize past
// it, errNoRoom when no room can be made).
func (fl *fill) grow(need int64) error {
	if need <= fl.reserved {
		return nil
	}
	limit := fl.ca.maxBytes()
	if need > limit {
		return fmt.Errorf("%w: more than %d bytes", errOversize, limit)
	}
	next := min(max(need, fl.reserved+fl.ca.reserveStep()), limit)
	if err := fl.ca.reserve(fl.e, fl.file, fl.reserved, next-fl.reserved, fl.st); err != nil {
		return err
	}
	fl.reserved = next
	return nil
}

// publish makes the complete file the entry: sync, drop the old metadata,
// rename the data into place, then write the new metadata. A crash in
// between leaves data without metadata, which reads as a miss.
func (fl *fill) publish() error {
	trimReservation(fl.file, fl.written.Load(), fl.reserved)
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

// release drops one reference to the file, closing it with the last; the
// last reference of a fill that was not published also deletes its file,
// closes the body's tail if no reader took it, and unlocks the entry.
func (fl *fill) release() {
	fl.mu.Lock()
	if fl.refs--; fl.refs > 0 {
		fl.mu.Unlock()
		return
	}
	fl.file.Close()
	fl.file = nil
	tail, published, oversize := fl.tail, fl.published, fl.oversize
	fl.tail = nil
	fl.mu.Unlock()
	if tail != nil {
		tail.Close()
	}
	if published {
		return
	}
	fl.e.root.Remove(fl.tmp)
	if oversize {
		// Later Opens stream it rather than fill (and evict) again.
		fl.e.root.Remove(fl.e.data())
		fl.e.writeMeta(meta{URL: fl.m.URL, Validated: time.Now().UnixNano(), Oversize: true})
	} else {
		// The origin answered 200: an older entry is outdated.
		fl.e.remove()
	}
	fl.e.unlock(fl.lock)
}

// takeTail hands the rest of an overflowed body to one reader.
func (fl *fill) takeTail() *Body {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	t := fl.tail
	fl.tail = nil
	return t
}

// reader returns a reader of the fill: a *fillReader (an io.ReaderAt) for
// a known size, a sequential *streamReader for a chunked body (whose end
// may have to come from the stream, see tail). When the fill has already
// ended and its file is closed, it opens the published entry instead.
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
	r := &fillReader{fl: fl, ctx: ctx}
	if fl.size < 0 {
		return &streamReader{r: r}, nil
	}
	return r, nil
}

// errTail is wait's answer at the end of the file of a fill whose body
// outgrew the cache: the rest is in the fill's tail.
var errTail = errors.New("the rest of the body is not in the cache")

// fillReader reads a fill as it progresses. It implements io.ReaderAt:
// a ReadAt past the bytes fetched so far waits for them (as io.ReaderAt
// allows), for at most the fill's idle timeout per chunk, or until the
// reader's ctx ends.
type fillReader struct {
	fl     *fill
	ctx    context.Context
	off    int64 // for Read
	tail   *Body // the rest of an overflowed body, once taken
	closed bool
	gone   bool // the reference to the file was released (tail taken)
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
		w, done, ferr, overflow, progress := fl.written.Load(), fl.done, fl.err, fl.overflow, fl.progress
		fl.mu.Unlock()
		avail = max(w-off, 0)
		switch {
		case avail >= need:
			return avail, nil
		case ferr != nil:
			return avail, ferr
		case done && overflow && avail == 0 && off == w:
			return 0, errTail
		case done && overflow:
			return avail, wrap(errOrigin, fl.url, errors.New("the object outgrew the cache: read it in order"))
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
	if r.closed || r.gone {
		return 0, os.ErrClosed
	}
	avail, werr := r.wait(off, int64(len(p)))
	n := int(min(avail, int64(len(p))))
	if n == 0 {
		if errors.Is(werr, errTail) {
			werr = wrap(errOrigin, r.fl.url, errors.New("the object outgrew the cache: read it in order"))
		}
		return 0, werr
	}
	m, err := r.fl.file.ReadAt(p[:n], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return m, wrap(errOrigin, r.fl.url, err)
	}
	if m < len(p) {
		if werr == nil || errors.Is(werr, errTail) {
			werr = io.ErrUnexpectedEOF
		}
		return m, werr
	}
	return m, nil
}

// Read reads the next bytes, waiting for at least one. At the end of the
// file of a body that outgrew the cache, it takes the rest of the body
// over (only one reader can) and releases the file.
func (r *fillReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.tail != nil {
		return r.tail.Read(p)
	}
	avail, werr := r.wait(r.off, 1)
	n := int(min(avail, int64(len(p))))
	if n == 0 {
		if errors.Is(werr, errTail) {
			if r.tail = r.fl.takeTail(); r.tail == nil {
				return 0, wrap(errOrigin, r.fl.url, errors.New("the object outgrew the cache and another reader streams the rest"))
			}
			r.gone = true
			r.fl.release() // the file is no longer needed by this reader
			return r.tail.Read(p)
		}
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

// Source reports the content as fetched from the origin into the cache during the session (tftp.Source).
func (r *fillReader) Source() stats.Source { return stats.SourceOrigin }

// Close releases the reader. The fill goes on for the cache.
func (r *fillReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.tail != nil {
		r.tail.Close()
	}
	if !r.gone {
		r.fl.release()
	}
	return nil
}

// streamReader reads a fill of unknown size in order. It is not an
// io.ReaderAt, so the TFTP engine keeps the current window in its own
// buffer, as for a *Body: the end of a body that outgrew the cache is
// streamed, never on disk, and cannot be read twice.
type streamReader struct{ r *fillReader }

func (s *streamReader) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *streamReader) Size() (int64, bool)        { return -1, false }
func (s *streamReader) Close() error               { return s.r.Close() }

// Source reports the content as fetched from the origin (fbtftp.Source).
func (s *streamReader) Source() stats.Source { return stats.SourceOrigin }
