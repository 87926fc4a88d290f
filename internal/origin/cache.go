package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// The defaults for the Cache's zero fields.
const (
	DefaultCacheMaxBytes = 1 << 30
	DefaultLockWait      = 60 * time.Second
)

// Cache keeps complete origin objects on disk, shared by the goroutines of
// one process and by all the processes that use the same Dir (each TFTP
// session is its own worker process). See the package documentation for
// the protocol. A Cache must not be copied after first use.
type Cache struct {
	// Dir holds the entries. It is created (mode 0700) when missing and
	// opened once (see OpenDir), then used through its descriptor; every
	// process sharing it must be able to write it.
	Dir string
	// MaxBytes bounds the bytes of the objects in Dir, published or being
	// filled (DefaultCacheMaxBytes when zero or negative). A fill reserves
	// its bytes before writing them, evicting the least recently used
	// entries to make room; objects larger than MaxBytes are streamed
	// without being cached, and so is the rest of a chunked body that
	// outgrows it (see budget.go).
	MaxBytes int64
	// MaxAge, when positive, serves an entry without asking the origin
	// when it was validated less than MaxAge ago. When zero, every Open
	// revalidates, except the Opens that overlapped the fetch or
	// revalidation that validated the entry.
	MaxAge time.Duration
	// MaxEntries bounds the number of entries (DefaultCacheMaxEntries
	// when zero or negative): published objects, fills in progress and
	// notes of objects that outgrew the cache. An entry at rest is two
	// files (data and metadata); a fill in progress adds its temporary
	// file, lock and marker. Past it, the least recently used entries are
	// evicted.
	MaxEntries int
	// LockWait bounds how long an Open waits for another process's fetch
	// of the same object (DefaultLockWait when zero); after it, the Open
	// streams the object from the origin itself, uncached.
	LockWait time.Duration

	mu      sync.Mutex
	flights map[string]*flight // by entry key: the in-process Open in charge
	running map[*fill]struct{} // fills in progress, for Abort
	fills   sync.WaitGroup     // running fills

	ctr cacheCounters

	dirMu  sync.Mutex
	root   *os.Root // Dir, set once by OpenDir; owned by the Cache (Close)
	closed bool

	// Test hooks: onWait runs when an Open finds the entry locked by
	// another open of the lock file, onJoin when an Open joins another
	// goroutine's flight, afterLead when a leader has resolved its flight.
	onWait, onJoin, afterLead func()
}

func (ca *Cache) maxBytes() int64 {
	if ca.MaxBytes > 0 {
		return ca.MaxBytes
	}
	return DefaultCacheMaxBytes
}

// entry returns the entry of key, opening Dir first when needed.
func (ca *Cache) entry(key string) (entry, error) {
	root, err := ca.dir()
	return entry{root: root, key: key}, err
}

// flight is one in-process resolution of a URL: the goroutine that created
// it (the leader) takes the entry's lock and finds the content; the others
// (joiners) wait for done and share the outcome. The outcome fields are
// written by the leader before done is closed and read-only after.
//
// A fill's flight holds a reference to the fill's file until every Open
// that uses the flight has taken its own (users is zero) and no new Open
// can join (gone), so that a short fill that ends before its readers start
// cannot close the file under them.
type flight struct {
	done  chan struct{}
	start time.Time // when the leader's Open began

	users int  // Opens using the flight; guarded by Cache.mu
	gone  bool // no longer registered; guarded by Cache.mu

	entry  entry // a current published entry to open
	size   int64 // its size
	fill   *fill // a fetch in progress to read along; set under Cache.mu
	body   *Body // the leader's own stream of an uncacheable object
	follow bool  // another process's fill is being read along (follow.go)
	direct bool  // joiners fetch on their own, uncached
	err    error
	retry  bool // the leader gave up (its ctx ended): joiners start over
}

// errGone means an entry went away between its lookup and its open (an
// eviction); the Open starts over.
var errGone = errors.New("cache entry gone")

// openCached resolves u through the cache.
func (c *Client) openCached(ctx context.Context, u *url.URL) (Content, error) {
	key := keyOf(u.String())
	var err error
	for range 3 {
		var cont Content
		var retry bool
		cont, retry, err = c.fly(ctx, key, u)
		if !retry {
			return cont, err
		}
	}
	return nil, wrap(errOrigin, u.Redacted(), err)
}

// fly leads or joins the flight of key and returns this Open's outcome,
// or retry when the Open must start over.
func (c *Client) fly(ctx context.Context, key string, u *url.URL) (cont Content, retry bool, err error) {
	ca := c.Cache
	ca.mu.Lock()
	f := ca.flights[key]
	lead := f == nil
	if lead {
		f = &flight{done: make(chan struct{}), start: time.Now()}
		if ca.flights == nil {
			ca.flights = make(map[string]*flight)
		}
		ca.flights[key] = f
	}
	f.users++
	ca.mu.Unlock()
	defer ca.leave(f)
	if lead {
		c.lead(ctx, f, key, u)
		if ca.afterLead != nil {
			ca.afterLead()
		}
	} else {
		if ca.onJoin != nil {
			ca.onJoin()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, wrap(errOrigin, u.Redacted(), context.Cause(ctx))
		}
		if f.retry {
			return nil, true, f.err
		}
	}
	cont, err = c.result(ctx, f, u, lead)
	return cont, errors.Is(err, errGone), err
}

// leave ends an Open's use of a flight.
func (ca *Cache) leave(f *flight) {
	ca.mu.Lock()
	f.users--
	last := f.users == 0 && f.gone && f.fill != nil
	ca.mu.Unlock()
	if last {
		f.fill.release()
	}
}

// result turns a flight's outcome into this Open's Content.
func (c *Client) result(ctx context.Context, f *flight, u *url.URL, lead bool) (Content, error) {
	switch {
	case f.err != nil:
		return nil, f.err
	case f.body != nil && lead:
		return f.body, nil
	case f.direct || f.body != nil:
		return c.openDirect(ctx, u)
	case f.fill != nil:
		return f.fill.reader(ctx)
	case f.follow:
		fd, part, size, ok := f.entry.follow(u.String())
		if !ok {
			return nil, errGone // the fill ended meanwhile: start over, find the entry
		}
		return &followReader{f: fd, e: f.entry, size: size, idle: c.idleTimeout(), url: u.Redacted(), part: part}, nil
	}
	return openEntry(f.entry, f.size)
}

// openEntry opens the published data file of e, of the given size.
func openEntry(e entry, size int64) (*File, error) {
	fd, err := e.root.Open(e.data())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errGone, err)
	}
	if fi, err := fd.Stat(); err != nil || fi.Size() != size {
		fd.Close()
		return nil, errGone
	}
	return &File{File: fd, size: size}, nil
}

// deregister removes a flight from the map: later Opens start their own.
func (ca *Cache) deregister(key string, f *flight) {
	ca.mu.Lock()
	if ca.flights[key] == f {
		delete(ca.flights, key)
	}
	f.gone = true
	last := f.users == 0 && f.fill != nil
	ca.mu.Unlock()
	if last {
		f.fill.release()
	}
}

// lead resolves a flight: it locks the entry, serves it when current,
// revalidates or fetches it otherwise, and closes f.done. A fetch's flight
// stays registered (joiners read along) until the fill ends.
func (c *Client) lead(ctx context.Context, f *flight, key string, u *url.URL) {
	ca := c.Cache
	defer func() {
		if f.fill == nil {
			ca.deregister(key, f)
		}
		close(f.done)
	}()
	e, err := ca.entry(key)
	if err != nil {
		f.err = wrap(errOrigin, u.Redacted(), err)
		return
	}
	lk, err := lockEntry(ctx, e, orDefault(ca.LockWait, DefaultLockWait), ca.onWait, func() bool {
		fd, _, _, ok := e.follow(u.String())
		if ok {
			fd.Close() // each Open of the flight opens its own (result)
		}
		return ok
	})
	switch {
	case errors.Is(err, errFollow):
		f.follow, f.entry = true, e
		return
	case errors.Is(err, ErrLockTimeout):
		f.direct = true
		return
	case err != nil && ctx.Err() != nil:
		f.err, f.retry = wrap(errOrigin, u.Redacted(), err), true
		return
	case err != nil:
		f.err = wrap(errOrigin, u.Redacted(), err)
		return
	}
	defer func() {
		if f.fill == nil {
			e.unlock(lk)
		}
	}()

	m, ok := e.readMeta(u.String())
	if ok && m.oversized() {
		f.direct = true // its chunked body outgrew the cache recently
		return
	}
	ok = ok && e.complete(m)
	serve := func() {
		e.touch()
		f.entry, f.size = e, m.Size
	}
	if ok && (!m.validated().Before(f.start) || ca.MaxAge > 0 && time.Since(m.validated()) < ca.MaxAge) {
		serve()
		return
	}
	// The fetch outlives this Open's ctx: others may be waiting for it.
	fctx := context.WithoutCancel(ctx)
	req, err := newRequest(fctx, u)
	if err != nil {
		f.err = err
		return
	}
	if ok && m.ETag != "" {
		req.Header.Set("If-None-Match", m.ETag)
	}
	if ok && m.LastModified != "" {
		req.Header.Set("If-Modified-Since", m.LastModified)
	}
	resp, cancel, err := c.do(fctx, req, u)
	if err != nil {
		if ok {
			serve() // stale if error
			return
		}
		f.err = err
		return
	}
	status := resp.StatusCode
	if status != http.StatusOK {
		resp.Body.Close()
		cancel(nil)
		if status != http.StatusNotModified || !ok {
			c.counters.fail(&statusCause{code: status, status: resp.Status}, stats.OriginStatusOther)
		}
	}
	switch {
	case status == http.StatusOK:
		c.fetched(ctx, f, e, u, resp, cancel, lk)
	case status == http.StatusNotModified && ok:
		m.Validated = time.Now().UnixNano()
		e.writeMeta(m) // on failure the entry is just revalidated again
		serve()
	case ok && (status == http.StatusNotFound || status == http.StatusGone):
		e.remove()
		f.err = statusError(u.Redacted(), resp)
	case ok && status != http.StatusUnauthorized && status != http.StatusForbidden:
		serve() // stale if error: 5xx, 429, anything unexpected
	default:
		f.err = statusError(u.Redacted(), resp)
	}
}

// fetched handles a 200 for the leader: a fill when the object fits the
// cache and the origin lets a shared cache store it, else the leader's own
// stream, which ends with ctx (joiners then fetch on their own). Any previous
// entry is outdated. It owns resp and cancel; the caller holds the lock.
func (c *Client) fetched(ctx context.Context, f *flight, e entry, u *url.URL, resp *http.Response, cancel context.CancelCauseFunc, lk *os.File) {
	if err := c.checkSize(u, resp.ContentLength); err != nil {
		resp.Body.Close()
		cancel(nil)
		e.remove()
		f.err = err
		return
	}
	if resp.ContentLength > c.Cache.maxBytes() || !storable(resp.Header) {
		e.remove()
		context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
		f.body = newBody(resp, cancel, c.idleTimeout(), c.MaxSize, u.Redacted(), &c.counters)
		return
	}
	err := c.startFill(f, e, u, resp, cancel, lk)
	switch {
	case errors.Is(err, errNoRoom):
		// Everything else is in use: serve it, store nothing.
		c.Cache.ctr.uncached.Add(1)
		e.remove()
		context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
		f.body = newBody(resp, cancel, c.idleTimeout(), c.MaxSize, u.Redacted(), &c.counters)
	case err != nil:
		resp.Body.Close()
		cancel(nil)
		f.err = wrap(errOrigin, u.Redacted(), err)
	}
}

// lockEntry takes the exclusive lock of an entry: flock on <key>.lock.
// While another open of the file holds it, it polls (1 ms doubling to
// 50 ms) until wait has passed (ErrLockTimeout), ctx ends, or follow (when
// not nil) says the holder's fill can be read along (errFollow). After locking
// it checks that <key>.lock still names the locked file: an eviction
// removes the lock file while holding it, and a lock on a removed file
// protects nothing, so then it starts over with the new file.
func lockEntry(ctx context.Context, e entry, wait time.Duration, onWait func(), follow func() bool) (*os.File, error) {
	deadline := time.Now().Add(wait)
	delay := time.Millisecond
	waited := false
	for {
		lk, ok, err := tryLockEntry(e)
		if err != nil {
			return nil, err
		}
		if ok {
			return lk, nil
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		if follow != nil && follow() {
			return nil, errFollow
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w after %s", ErrLockTimeout, wait)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, context.Cause(ctx)
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// tryLockEntry makes one attempt at the entry lock.
func tryLockEntry(e entry) (*os.File, bool, error) {
	for {
		lk, err := e.root.OpenFile(e.lock(), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, false, err
		}
		ok, err := tryFlock(lk)
		if err != nil || !ok {
			lk.Close()
			return nil, false, err
		}
		held, err1 := lk.Stat()
		named, err2 := e.root.Stat(e.lock())
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return lk, true, nil
		}
		lk.Close()
		if err1 != nil {
			return nil, false, err1
		}
	}
}

// Wait waits until the cache fills started by Open have ended or ctx is
// done. Fills outlive the Content that started them so that other Opens
// can use the entry; a process should Wait (with a deadline) before it
// exits so that an object it started fetching is published.
func (c *Client) Wait(ctx context.Context) error {
	if c.Cache == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		c.Cache.fills.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
