package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// versioned is an origin serving objects with ETags and Last-Modified
// that honours conditional requests.
type versioned struct {
	mu      sync.Mutex
	objects map[string][]byte // path -> content
	etags   map[string]string
	status  int // when set, every request gets it
	chunked bool
	cond    atomic.Int64 // conditional requests
	full    atomic.Int64 // 200 answers
}

const lastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

func (v *versioned) set(path string, b []byte, etag string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.objects == nil {
		v.objects, v.etags = map[string][]byte{}, map[string]string{}
	}
	v.objects[path], v.etags[path] = b, etag
}

func (v *versioned) setStatus(status int, chunked bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.status, v.chunked = status, chunked
}

func (v *versioned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	b, ok := v.objects[r.URL.Path]
	etag, status, chunked := v.etags[r.URL.Path], v.status, v.chunked
	v.mu.Unlock()
	if r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != "" {
		v.cond.Add(1)
	}
	switch {
	case status != 0:
		http.Error(w, "status", status)
		return
	case !ok:
		http.NotFound(w, r)
		return
	case r.Header.Get("If-None-Match") == etag:
		w.WriteHeader(http.StatusNotModified)
		return
	}
	v.full.Add(1)
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", lastModified)
	if !chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	w.Write(b)
}

func newCached(t *testing.T, h http.Handler, cache *Cache) (*origin, *Client) {
	t.Helper()
	o := newOrigin(t, h.ServeHTTP)
	if cache.Dir == "" {
		cache.Dir = t.TempDir()
	}
	c := &Client{Cache: cache, IdleTimeout: 5 * time.Second}
	t.Cleanup(func() { cache.Close() }) // after the Wait below
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Wait(ctx); err != nil {
			t.Errorf("fills still running: %v", err)
		}
	})
	return o, c
}

// entryOf returns the cache entry of url, opening the cache directory.
func entryOf(t *testing.T, c *Client, url string) entry {
	t.Helper()
	e, err := c.Cache.entry(keyOf(url))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fetch opens url, reads it all and waits for the fill to be published.
func fetch(t *testing.T, c *Client, url string) ([]byte, Content) {
	t.Helper()
	body, err := c.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	b := readAll(t, body)
	if err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b, body
}

func TestCacheHitRevalidateRefetch(t *testing.T) {
	v := &versioned{}
	v1, v2 := payload(50_000), bytes.Repeat([]byte("v2"), 30_000)
	v.set("/kernel", v1, `"1"`)
	o, c := newCached(t, v, &Cache{})
	url := o.URL + "/kernel"

	got, body := fetch(t, c, url)
	if !bytes.Equal(got, v1) {
		t.Fatal("first fetch: wrong content")
	}
	if _, ok := body.(io.ReaderAt); !ok {
		t.Error("a fill reader should be an io.ReaderAt")
	}
	if v.full.Load() != 1 || v.cond.Load() != 0 {
		t.Fatalf("requests: %d full, %d conditional", v.full.Load(), v.cond.Load())
	}

	// A hit: revalidated with a conditional GET, served from disk.
	got, body = fetch(t, c, url)
	if !bytes.Equal(got, v1) {
		t.Fatal("hit: wrong content")
	}
	if _, ok := body.(*File); !ok {
		t.Errorf("hit served as %T, want *File", body)
	}
	if v.full.Load() != 1 || v.cond.Load() != 1 {
		t.Fatalf("requests: %d full, %d conditional", v.full.Load(), v.cond.Load())
	}

	// The object changes: the conditional GET gets 200 and the new body.
	v.set("/kernel", v2, `"2"`)
	if got, _ = fetch(t, c, url); !bytes.Equal(got, v2) {
		t.Fatal("after change: old content")
	}
	if got, _ = fetch(t, c, url); !bytes.Equal(got, v2) {
		t.Fatal("hit after change: wrong content")
	}
	if v.full.Load() != 2 || v.cond.Load() != 3 {
		t.Fatalf("requests: %d full, %d conditional", v.full.Load(), v.cond.Load())
	}
	m, ok := entryOf(t, c, url).read(url)
	if !ok || m.ETag != `"2"` || m.LastModified != lastModified || m.Size != int64(len(v2)) {
		t.Errorf("meta = %+v, %v", m, ok)
	}
}

func TestCacheReadAt(t *testing.T) {
	v := &versioned{}
	data := payload(300_000)
	v.set("/f", data, `"x"`)
	o, c := newCached(t, v, &Cache{})
	for _, name := range []string{"fill", "entry"} {
		t.Run(name, func(t *testing.T) {
			body, err := c.Open(t.Context(), o.URL+"/f")
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			ra := body.(io.ReaderAt)
			// Out of order, as retransmissions after a window restart.
			for _, off := range []int64{200_000, 0, 299_000, 512} {
				p := make([]byte, 1000)
				n, err := ra.ReadAt(p, off)
				want := data[off:min(off+1000, int64(len(data)))]
				if n != len(want) || !bytes.Equal(p[:n], want) {
					t.Fatalf("ReadAt(%d) = %d bytes, want %d", off, n, len(want))
				}
				if n < len(p) && err != io.EOF {
					t.Fatalf("short ReadAt(%d) err = %v, want EOF", off, err)
				}
			}
			if n, err := ra.ReadAt(make([]byte, 10), int64(len(data))); n != 0 || err != io.EOF {
				t.Errorf("ReadAt(end) = %d, %v", n, err)
			}
			if n, ok := body.Size(); !ok || n != int64(len(data)) {
				t.Errorf("Size = %d, %v", n, ok)
			}
			c.Wait(t.Context())
		})
	}
}

func TestCacheChunked(t *testing.T) {
	v := &versioned{chunked: true}
	data := payload(20_000)
	v.set("/c", data, `"c"`)
	o, c := newCached(t, v, &Cache{})
	body, err := c.Open(t.Context(), o.URL+"/c")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.Size(); ok {
		t.Error("chunked size should be unknown")
	}
	if got := readAll(t, body); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
	c.Wait(t.Context())
	if got, body := fetch(t, c, o.URL+"/c"); !bytes.Equal(got, data) {
		t.Fatal("hit: wrong content")
	} else if n, ok := body.Size(); !ok || n != int64(len(data)) {
		t.Errorf("hit Size = %d, %v", n, ok)
	}
}

func TestCacheEviction(t *testing.T) {
	v := &versioned{}
	const size = 10_000
	for _, p := range []string{"/a", "/b", "/c"} {
		v.set(p, payload(size), `"`+p+`"`)
	}
	o, c := newCached(t, v, &Cache{MaxBytes: 2*size + size/2})
	has := func(p string) bool {
		_, ok := entryOf(t, c, o.URL+p).read(o.URL + p)
		return ok
	}
	fetch(t, c, o.URL+"/a")
	fetch(t, c, o.URL+"/b")
	// Use a again so that b is the least recently used.
	past := time.Now().Add(-time.Hour)
	b := entryOf(t, c, o.URL+"/b")
	b.root.Chtimes(b.data(), past, past)
	fetch(t, c, o.URL+"/a")
	fetch(t, c, o.URL+"/c")
	if !has("/a") || has("/b") || !has("/c") {
		t.Fatalf("after eviction: a %v, b %v, c %v; want b evicted", has("/a"), has("/b"), has("/c"))
	}
	if _, err := b.root.Stat(b.lock()); !os.IsNotExist(err) {
		t.Errorf("evicted lock file: %v", err)
	}
	full := v.full.Load()
	if got, _ := fetch(t, c, o.URL+"/b"); !bytes.Equal(got, payload(size)) {
		t.Fatal("refetch: wrong content")
	}
	if v.full.Load() != full+1 {
		t.Error("an evicted entry was not fetched again")
	}
}

func TestCacheTooLarge(t *testing.T) {
	v := &versioned{}
	data := payload(5000)
	v.set("/big", data, `"b"`)
	o, c := newCached(t, v, &Cache{MaxBytes: 1000})
	for _, chunked := range []bool{false, true} {
		v.setStatus(0, chunked)
		for i := range 2 {
			got, body := fetch(t, c, o.URL+"/big")
			if !bytes.Equal(got, data) {
				t.Fatal("wrong content")
			}
			// The second chunked download knows: no fill, no eviction.
			if _, ok := body.(*Body); !ok && (!chunked || i == 1) {
				t.Errorf("chunked %v, download %d: served as %T, want an uncached *Body", chunked, i, body)
			}
		}
		// Nothing but, for the chunked body that outgrew the cache, a
		// note saying so.
		ents, _ := os.ReadDir(c.Cache.Dir)
		for _, e := range ents {
			if !chunked || !strings.HasSuffix(e.Name(), ".meta") {
				t.Errorf("chunked %v: %s left in the cache", chunked, e.Name())
			}
		}
	}
	if m, ok := entryOf(t, c, o.URL+"/big").readMeta(o.URL + "/big"); !ok || !m.oversized() {
		t.Errorf("note %+v, %v", m, ok)
	}
	if v.full.Load() != 4 || v.cond.Load() != 0 {
		t.Errorf("requests: %d full, %d conditional; want 4 uncached", v.full.Load(), v.cond.Load())
	}
	if ctr := c.Cache.Counters(); ctr.FillsStarted != 1 || ctr.AbortedBudget != 1 || ctr.FillsPublished != 0 {
		t.Errorf("counters %+v: want one fill, stopped by the budget", ctr)
	}
}

func TestCacheOriginErrors(t *testing.T) {
	v := &versioned{}
	data := payload(1000)
	v.set("/f", data, `"f"`)
	o, c := newCached(t, v, &Cache{})
	url := o.URL + "/f"
	fetch(t, c, url)

	// Stale if error: the origin fails, the entry is served.
	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
		v.setStatus(status, false)
		if got, _ := fetch(t, c, url); !bytes.Equal(got, data) {
			t.Fatalf("%d: stale entry not served", status)
		}
	}
	// The origin refuses: so does the cache, and the entry stays.
	v.setStatus(http.StatusForbidden, false)
	if _, err := c.Open(t.Context(), url); err == nil {
		t.Fatal("403 served")
	} else if code, _ := wire(t, err); code != proto.ErrAccessViolation {
		t.Errorf("403 -> code %d", code)
	}
	// The object is gone: the entry goes too.
	v.setStatus(http.StatusNotFound, false)
	if _, err := c.Open(t.Context(), url); err == nil {
		t.Fatal("404 served")
	} else if code, _ := wire(t, err); code != proto.ErrNotFound {
		t.Errorf("404 -> code %d", code)
	}
	if _, err := os.Stat(filepath.Join(c.Cache.Dir, entryOf(t, c, url).data())); !os.IsNotExist(err) {
		t.Errorf("entry after 404: %v", err)
	}
	// No entry and an error: ERROR 0.
	v.setStatus(http.StatusBadGateway, false)
	if _, err := c.Open(t.Context(), url); err == nil {
		t.Fatal("502 served")
	} else if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
		t.Errorf("502 -> %d %q", code, msg)
	}
	// Network error with an entry: stale.
	v.setStatus(0, false)
	fetch(t, c, url)
	o.Close()
	if got, _ := fetch(t, c, url); !bytes.Equal(got, data) {
		t.Fatal("origin down: stale entry not served")
	}
}

func TestCacheMaxAge(t *testing.T) {
	v := &versioned{}
	v.set("/f", payload(100), `"f"`)
	o, c := newCached(t, v, &Cache{MaxAge: time.Hour})
	for range 3 {
		fetch(t, c, o.URL+"/f")
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("%d requests within MaxAge, want 1", n)
	}
}

// TestCacheFailedFill checks that a body that breaks off is not published
// and that its reader gets ERROR 0.
func TestCacheFailedFill(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	dir := t.TempDir()
	c := &Client{Cache: &Cache{Dir: dir}}
	defer c.Cache.Close()
	body, err := c.Open(t.Context(), o.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(body)
	if err == nil {
		t.Fatal("read a broken body to the end")
	}
	if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
		t.Errorf("wire %d %q", code, msg)
	}
	c.Wait(t.Context())
	// The temporary file stays (counted by the budget) while a reader
	// has it open.
	if ents, _ := filepath.Glob(filepath.Join(dir, "*.part")); len(ents) != 1 {
		t.Errorf("temporary files while the reader is open: %q", ents)
	}
	body.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left after a failed fill, want none: %v", len(ents), ents)
	}
}

// TestCacheConcurrent opens one object from 100 goroutines at once: the
// origin sees one request, every reader gets the whole object.
func TestCacheConcurrent(t *testing.T) {
	const n = 100
	data := payload(256 << 10)
	want := sha256.Sum256(data)
	var joined atomic.Int64
	allJoined := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-allJoined:
		case <-time.After(10 * time.Second):
			t.Error("the other Opens did not join")
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	c := &Client{Cache: &Cache{Dir: t.TempDir()}}
	defer c.Cache.Close()
	c.Cache.onJoin = func() {
		if joined.Add(1) == n-1 {
			close(allJoined)
		}
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			body, err := c.Open(t.Context(), o.URL+"/initrd")
			if err != nil {
				t.Error(err)
				return
			}
			defer body.Close()
			h := sha256.New()
			n, err := io.CopyBuffer(h, body, make([]byte, 32<<10))
			if err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("read %d bytes, %v", n, err)
			}
		})
	}
	wg.Wait()
	c.Wait(t.Context())
	if got := o.requests.Load(); got != 1 {
		t.Errorf("%d origin requests, want 1", got)
	}
}

// TestCacheLockWait holds an entry's lock as another process would: an
// Open waits, then streams the object uncached.
func TestCacheLockWait(t *testing.T) {
	v := &versioned{}
	v.set("/f", payload(100), `"f"`)
	o, c := newCached(t, v, &Cache{LockWait: 20 * time.Millisecond})
	lk, ok, err := tryLockEntry(entryOf(t, c, o.URL+"/f"))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	defer lk.Close()
	var waits atomic.Int64
	c.Cache.onWait = func() { waits.Add(1) }
	body, err := c.Open(t.Context(), o.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(*Body); !ok {
		t.Errorf("served as %T, want an uncached *Body", body)
	}
	readAll(t, body)
	if waits.Load() != 1 {
		t.Errorf("onWait ran %d times", waits.Load())
	}

	// A session that ends while waiting gets an error.
	c.Cache.LockWait = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Open(ctx, o.URL+"/f"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

// TestCacheReaderCancel checks that a reader waiting for a stalled fill
// returns when its session ends, and that the fill stops at its idle
// timeout.
func TestCacheReaderCancel(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := &Client{Cache: &Cache{Dir: t.TempDir()}, IdleTimeout: 200 * time.Millisecond}
	defer c.Cache.Close()
	ctx, cancel := context.WithCancel(t.Context())
	body, err := c.Open(ctx, o.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	if n, err := body.Read(p); n != 10 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	cancel()
	if _, err := body.Read(p); err == nil {
		t.Fatal("read after cancel succeeded")
	}
	body.Close()
	if err := body.Close(); err != nil {
		t.Error(err)
	}
	if _, err := body.Read(p); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	ents, _ := filepath.Glob(filepath.Join(c.Cache.Dir, "*.part"))
	if len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}
