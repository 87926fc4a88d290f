package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// diskBytes returns the bytes the files of dir take on disk (allocated
// blocks where the system says, else sizes).
func diskBytes(t *testing.T, dir string) int64 { return diskBytesOf(t, dir, "") }

// objectBytes is diskBytes of the object files alone (.data and .part):
// what MaxBytes bounds; the metadata is bounded by MaxEntries.
func objectBytes(t *testing.T, dir string) int64 { return diskBytesOf(t, dir, "object") }

func diskBytesOf(t *testing.T, dir, only string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Error(err)
		return 0
	}
	var n int64
	for _, d := range ents {
		if only == "object" && !strings.HasSuffix(d.Name(), ".data") && !strings.HasSuffix(d.Name(), ".part") {
			continue
		}
		fi, err := d.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if a := allocated(fi); a > 0 {
			n += a
		} else {
			n += fi.Size()
		}
	}
	return n
}

// peak records the largest value seen.
type peak struct{ v atomic.Int64 }

func (p *peak) see(v int64) {
	for {
		old := p.v.Load()
		if v <= old || p.v.CompareAndSwap(old, v) {
			return
		}
	}
}

// watchDisk samples diskBytes(dir) into p, and objectBytes(dir) into
// obj when not nil, until the returned function is called (which waits
// for the sampler to stop).
func watchDisk(t *testing.T, dir string, p, obj *peak) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			p.see(diskBytes(t, dir))
			if obj != nil {
				obj.see(objectBytes(t, dir))
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// endless is an origin whose chunked body of /NAME goes on for limit
// bytes (far past any cache here; bounded so that a broken budget fills
// a temporary directory, not the disk), payload(chunk) at a time. Before
// each chunk, it records the cache directory's disk usage in p: a fill
// writes what it receives, so the bytes of the chunks already sent are
// on disk by then, unless the budget stopped them.
func endless(t *testing.T, dir *string, p *peak, limit int) http.HandlerFunc {
	chunk := payload(64 << 10)
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for sent := 0; sent < limit; sent += len(chunk) {
			if *dir != "" {
				p.see(diskBytes(t, *dir))
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// TestCacheBudgetEndlessChunked: an endless chunked body against a 1 MiB
// cache. The fill stops at the budget (the directory never holds more
// than the budget and one block), the client still gets every byte
// (the rest is streamed), and what stays is a note that the URL outgrew
// the cache.
func TestCacheBudgetEndlessChunked(t *testing.T) {
	const budget = 1 << 20
	const total = 16 << 20
	var p peak
	var dir string
	o, c := newCached(t, endless(t, &dir, &p, total), &Cache{MaxBytes: budget})
	dir = c.Cache.Dir
	stop := watchDisk(t, dir, &p, nil)
	body, err := c.Open(t.Context(), o.URL+"/endless")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(io.ReaderAt); ok {
		t.Error("a chunked fill is an io.ReaderAt: its end cannot come from the stream")
	}
	n, err := io.Copy(io.Discard, body)
	body.Close()
	c.Wait(t.Context())
	stop()
	if err != nil || n != total {
		t.Fatalf("read %d of %d bytes: %v", n, total, err)
	}
	const block = 4096
	if got := p.v.Load(); got > budget+block {
		t.Errorf("the cache directory held %d bytes, budget %d", got, budget)
	}
	t.Logf("peak %d bytes on disk for a %d byte budget", p.v.Load(), budget)
	ctr := c.Cache.Counters()
	if ctr.AbortedBudget != 1 || ctr.BytesFilled > budget {
		t.Errorf("counters %+v: want one fill stopped by the budget, at most %d bytes", ctr, budget)
	}
	names := list(t, dir)
	if len(names) != 1 || !strings.HasSuffix(names[0], ".meta") {
		t.Errorf("left in the cache: %q, want the note alone", names)
	}
	// The note sends the next download straight to the stream: no fill.
	body, err = c.Open(t.Context(), o.URL+"/endless")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(*Body); !ok {
		t.Errorf("after the note: %T, want an uncached *Body", body)
	}
	body.Close()

	// A note past OversizeTTL is forgotten: the URL is tried again.
	e := entryOf(t, c, o.URL+"/endless")
	m, _ := e.readMeta(o.URL + "/endless")
	m.Validated = time.Now().Add(-OversizeTTL - time.Minute).UnixNano()
	e.writeMeta(m)
	body, err = c.Open(t.Context(), o.URL+"/endless")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(*streamReader); !ok {
		t.Errorf("after the note expired: %T, want a fill", body)
	}
	body.Close()
}

// TestCacheBudgetProbe: a reader that goes away at once (a UEFI size
// probe) leaves the fill of an endless body to itself: it stops at the
// budget, closes the connection and leaves no data.
func TestCacheBudgetProbe(t *testing.T) {
	const budget = 512 << 10
	var p peak
	var dir string
	o, c := newCached(t, endless(t, &dir, &p, 64<<20), &Cache{MaxBytes: budget})
	dir = c.Cache.Dir
	body, err := c.Open(t.Context(), o.URL+"/endless")
	if err != nil {
		t.Fatal(err)
	}
	body.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("the fill of an endless body did not stop: %v", err)
	}
	if got := p.v.Load(); got > budget+4096 {
		t.Errorf("the cache directory held %d bytes, budget %d", got, budget)
	}
	if names := list(t, dir); len(names) != 1 {
		t.Errorf("left in the cache: %q, want the note alone (%+v)", names, c.Cache.Counters())
	}
}

// TestCacheBudgetConcurrent: five processes fill five objects of known
// size at once, each a little less than a quarter of the cache: four
// reserve their size, the last finds no room (every entry is in use) and
// streams uncached. The directory never holds more than the budget; every client
// gets its object.
func TestCacheBudgetConcurrent(t *testing.T) {
	const budget = 1 << 20
	const size = budget/4 - 1000
	const procs = 5
	started := make(chan struct{}, procs)
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		b := payload(size)
		w.Write(b[:size/2])
		w.(http.Flusher).Flush()
		started <- struct{}{}
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		w.Write(b[size/2:])
	})
	dir := t.TempDir()
	var p, obj peak
	stop := watchDisk(t, dir, &p, &obj)
	defer stop()
	clients := make([]*Client, procs)
	for i := range clients {
		clients[i] = &Client{Cache: &Cache{Dir: dir, MaxBytes: budget}, IdleTimeout: 5 * time.Second}
		t.Cleanup(func() { clients[i].Cache.Close() })
	}
	bodies := make([]Content, procs)
	for i, c := range clients {
		var err error
		if bodies[i], err = c.Open(t.Context(), fmt.Sprintf("%s/obj%d", o.URL, i)); err != nil {
			t.Fatal(err)
		}
	}
	for range procs {
		<-started // every body is half-sent, its fill (if any) running
	}
	p.see(diskBytes(t, dir))
	obj.see(objectBytes(t, dir))
	close(release)
	var uncached uint64
	for i, b := range bodies {
		if got := readAll(t, b); !bytes.Equal(got, payload(size)) {
			t.Errorf("object %d: wrong content", i)
		}
		clients[i].Wait(t.Context())
		uncached += clients[i].Cache.Counters().Uncached
	}
	stop()
	// The objects fit the budget; each entry's metadata (a marker, then
	// the metadata file) adds a block.
	if got := obj.v.Load(); got > budget {
		t.Errorf("the cache directory held %d bytes of objects, budget %d", got, budget)
	}
	if got := p.v.Load(); got > budget+procs*2*4096 {
		t.Errorf("the cache directory held %d bytes, budget %d", got, budget)
	}
	if uncached != 1 {
		t.Errorf("%d objects streamed uncached, want 1 (four fit)", uncached)
	}
	if b, n, err := clients[0].Cache.Usage(); err != nil || b != 4*size || n != 4 {
		t.Errorf("Usage() = %d bytes, %d entries, %v; want %d, 4", b, n, err, 4*size)
	}
}

// TestCacheMaxEntries: the number of entries is bounded (least recently
// used evicted), an entry at rest is two files, and names that were asked
// for once leave nothing (no lock file per 404).
func TestCacheMaxEntries(t *testing.T) {
	v := &versioned{}
	for i := range 6 {
		v.set(fmt.Sprintf("/%d", i), payload(100+i), fmt.Sprintf(`"%d"`, i))
	}
	o, c := newCached(t, v, &Cache{MaxEntries: 3})
	for i := range 100 {
		if _, err := c.Open(t.Context(), fmt.Sprintf("%s/missing%d", o.URL, i)); err == nil {
			t.Fatal("a missing object opened")
		}
	}
	if names := list(t, c.Cache.Dir); len(names) != 0 {
		t.Fatalf("100 missing names left %d files: %q", len(names), names[:min(len(names), 5)])
	}
	has := func(i int) bool {
		u := fmt.Sprintf("%s/%d", o.URL, i)
		_, ok := entryOf(t, c, u).read(u)
		return ok
	}
	for i := range 6 {
		fetch(t, c, fmt.Sprintf("%s/%d", o.URL, i))
		switch i {
		case 3:
			// 3 evicted 0; make 2 the least recently used, before 1.
			e := entryOf(t, c, o.URL+"/2")
			past := time.Now().Add(-time.Hour)
			e.root.Chtimes(e.data(), past, past)
		case 4:
			if !has(1) || has(2) {
				t.Errorf("4 evicted 1, not the least recently used 2")
			}
		}
	}
	var want []string
	for _, i := range []int{3, 4, 5} {
		k := keyOf(fmt.Sprintf("%s/%d", o.URL, i))
		want = append(want, k+".data", k+".meta")
	}
	slices.Sort(want)
	if names := list(t, c.Cache.Dir); !slices.Equal(names, want) {
		t.Errorf("the cache holds %q, want the three most recent entries, two files each", names)
	}
	if ctr := c.Cache.Counters(); ctr.Evictions != 3 {
		t.Errorf("%d evictions, want 3", ctr.Evictions)
	}
}

// TestCacheSweep: what a killed process left (a temporary file, a
// metadata temp, a marker and a lock file, no lock held) is removed by the
// next reservation, and no longer counts against the budget.
func TestCacheSweep(t *testing.T) {
	v := &versioned{}
	v.set("/f", payload(1000), `"f"`)
	o, c := newCached(t, v, &Cache{MaxBytes: 4000})
	dead := keyOf("http://dead.example/x")
	dir := c.Cache.Dir
	for _, n := range []string{dead + ".12.part", dead + ".34.mtmp", dead + ".fill", dead + ".lock", keyOf("http://other/") + ".lock"} {
		if err := os.WriteFile(filepath.Join(dir, n), make([]byte, 3500), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "not-ours"), []byte("x"), 0o600)
	if got, _ := fetch(t, c, o.URL+"/f"); !bytes.Equal(got, payload(1000)) {
		t.Fatal("wrong content")
	}
	k := keyOf(o.URL + "/f")
	if names, want := list(t, dir), []string{k + ".data", k + ".meta", "not-ours"}; !slices.Equal(names, want) {
		t.Errorf("after the sweep: %q, want %q", names, want)
	}
	if ctr := c.Cache.Counters(); ctr.Swept != 1 || ctr.FillsPublished != 1 {
		t.Errorf("counters %+v", ctr)
	}
}

// TestCacheAbort: a fill that outlives its reader is stopped by Abort
// (the fill time limit), counted, and leaves nothing behind.
func TestCacheAbort(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000000")
		for range 1000 { // a trickle: never idle, never done
			if _, err := w.Write(make([]byte, 100)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	dir := t.TempDir()
	c := &Client{Cache: &Cache{Dir: dir}, IdleTimeout: 5 * time.Second}
	defer c.Cache.Close()
	body, err := c.Open(t.Context(), o.URL+"/slow")
	if err != nil {
		t.Fatal(err)
	}
	body.Close() // the probe is over; the fill goes on
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx); err == nil {
		t.Fatal("the trickle's fill ended by itself")
	}
	if n := c.Abort(fmt.Errorf("%w after 100ms", ErrFillTimeout)); n != 1 {
		t.Errorf("Abort stopped %d fills, want 1", n)
	}
	if err := c.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if names := list(t, dir); len(names) != 0 {
		t.Errorf("left after Abort: %q", names)
	}
	if ctr := c.Cache.Counters(); ctr.AbortedTimeout != 1 || ctr.FillsAborted != 1 {
		t.Errorf("counters %+v", ctr)
	}
	if c.Abort(ErrFillTimeout) != 0 {
		t.Error("a second Abort found fills")
	}
}

func TestSplitName(t *testing.T) {
	k := keyOf("x")
	for _, c := range []struct {
		name, kind string
	}{
		{k + ".data", "data"}, {k + ".meta", "meta"}, {k + ".lock", "lock"}, {k + ".fill", "fill"},
		{k + ".abc.part", "part"}, {k + ".9.mtmp", "mtmp"},
		{k + ".part", ""}, {k + "..part", ""}, {k + ".a.b.part", ""}, {k + ".other", ""},
		{strings.ToUpper(k) + ".data", ""}, {k[1:] + "x.data", ""}, {"short.data", ""}, {k, ""},
		{fmt.Sprintf("%x", sha256.Sum256([]byte("y"))) + ".data", "data"},
	} {
		key, kind, ok := splitName(c.name)
		if kind != c.kind || ok != (c.kind != "") || ok && key != c.name[:keyLen] {
			t.Errorf("splitName(%q) = %q, %q, %v; want kind %q", c.name, key, kind, ok, c.kind)
		}
	}
}

func FuzzSplitName(f *testing.F) {
	f.Add(keyOf("x") + ".1.part")
	f.Add(keyOf("x") + ".data")
	f.Fuzz(func(t *testing.T, name string) {
		key, kind, ok := splitName(name)
		if ok && (len(key) != keyLen || !strings.HasPrefix(name, key+".") || kind == "") {
			t.Fatalf("splitName(%q) = %q, %q", name, key, kind)
		}
	})
}
