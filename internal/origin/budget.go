package origin

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// The cache's budget. Every fill reserves the bytes it is about to write
// before it writes them, so the cache directory never holds more object
// bytes than MaxBytes, nor more entries than MaxEntries, whatever the
// origin sends (an endless chunked body included) and however many
// processes fill at once:
//
//   - A fill of known size reserves the whole Content-Length when it
//     starts; one of unknown size (chunked) reserves a step at a time
//     (reserveStep) and stops when the next step would pass MaxBytes.
//   - A reservation takes the cache-wide lock (flock on the directory),
//     scans the directory, evicts least recently used entries while the
//     published objects, the fills in progress and the new bytes do not
//     fit, and reserves the bytes on the file system (fallocate with
//     KEEP_SIZE, so another process's scan sees them in st_blocks, and
//     ENOSPC comes now rather than mid-write). Where the file system
//     cannot preallocate, a concurrent fill's scan sees only what was
//     written, and the bound may be passed by one step per concurrent
//     fill.
//   - An object's bytes count as the larger of their size and their
//     allocation; metadata, locks and markers (a few hundred bytes each,
//     one block on disk) are bounded by MaxEntries, not counted.
//
// The same scan sweeps what dead processes left: temporary files and lock
// files of entries whose lock is free.

// DefaultCacheMaxEntries bounds the entries when Cache.MaxEntries is zero.
const DefaultCacheMaxEntries = 10000

// OversizeTTL is how long a URL whose chunked body outgrew the cache is
// streamed uncached without trying to fill it again.
const OversizeTTL = time.Hour

// budgetLockWait bounds the wait for the cache-wide lock. It is held for
// one scan and its evictions; a holder stopped by a debugger or a signal
// must not stall every fill: past it, the fill is served uncached.
const budgetLockWait = 5 * time.Second

// keyLen is the length of an entry key: hex SHA-256.
const keyLen = 64

var (
	// errNoRoom means a reservation could not be made: everything that
	// could be evicted was, or the file system is full. The object is
	// streamed uncached.
	errNoRoom = errors.New("no room in the cache")
	// errOversize means a chunked object outgrew MaxBytes.
	errOversize = errors.New("object larger than the cache")
)

func (ca *Cache) maxEntries() int {
	if ca.MaxEntries > 0 {
		return ca.MaxEntries
	}
	return DefaultCacheMaxEntries
}

// reserveStep is how much a fill of unknown size reserves at a time: a
// sixteenth of the cache, between 64 KiB and 16 MiB.
func (ca *Cache) reserveStep() int64 {
	return min(max(ca.maxBytes()/16, 64<<10), 16<<20)
}

// slot is what a scan found of one entry's files.
type slot struct {
	key   string
	data  int64     // size of <key>.data, -1 when there is none
	mtime time.Time // LRU clock: the data's, else the metadata's
	parts int64     // bytes of <key>.*.part files (size or allocation)
	part  bool      // a <key>.*.part file: a fill in progress (or a dead one's)
	meta  bool      // <key>.meta
	temps bool      // .part, .mtmp or .fill files
	lock  bool      // <key>.lock
}

// counted reports whether the slot is an entry for MaxEntries: a
// published object, an object being filled, or a note (metadata alone).
func (s *slot) counted() bool { return s.data >= 0 || s.meta || s.part }

// usage is one scan of the cache directory.
type usage struct {
	bytes   int64 // data files and fills in progress
	entries int   // counted slots
	slots   map[string]*slot
}

// splitName returns the key and the kind of a cache file name: "data",
// "meta", "lock", "fill", "part" or "mtmp". Other names are not ours.
func splitName(name string) (key, kind string, ok bool) {
	if len(name) <= keyLen+1 || name[keyLen] != '.' {
		return "", "", false
	}
	key, rest := name[:keyLen], name[keyLen+1:]
	for i := range keyLen {
		if c := key[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	switch rest {
	case "data", "meta", "lock", "fill":
		return key, rest, true
	}
	if rnd, ok := strings.CutSuffix(rest, ".part"); ok && rnd != "" && !strings.Contains(rnd, ".") {
		return key, "part", true
	}
	if rnd, ok := strings.CutSuffix(rest, ".mtmp"); ok && rnd != "" && !strings.Contains(rnd, ".") {
		return key, "mtmp", true
	}
	return "", "", false
}

// scanDir reads the cache directory: the names, then one lstat for each
// data and temporary file, and for each metadata file without data.
// Files that are not ours, not regular, or that vanish during the scan
// are skipped.
func scanDir(root *os.Root) (*usage, error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	u := &usage{slots: make(map[string]*slot)}
	stat := func(name string) (os.FileInfo, bool) {
		fi, err := root.Lstat(name)
		return fi, err == nil && fi.Mode().IsRegular()
	}
	for _, name := range names {
		key, kind, ok := splitName(name)
		if !ok {
			continue
		}
		s := u.slots[key]
		if s == nil {
			s = &slot{key: key, data: -1}
			u.slots[key] = s
		}
		switch kind {
		case "lock":
			s.lock = true
		case "fill", "mtmp":
			s.temps = true
		case "meta":
			s.meta = true
		case "data":
			if fi, ok := stat(name); ok {
				s.data, s.mtime = fi.Size(), fi.ModTime()
				u.bytes += fi.Size()
			}
		case "part":
			if fi, ok := stat(name); ok {
				n := max(fi.Size(), allocated(fi))
				s.parts += n
				s.part, s.temps = true, true
				u.bytes += n
			}
		}
	}
	for _, s := range u.slots {
		if s.meta && s.data < 0 {
			// A note (or a metadata file left alone): its clock is its
			// own time.
			if fi, ok := stat(s.key + ".meta"); ok {
				s.mtime = fi.ModTime()
			}
		}
		if s.counted() {
			u.entries++
		}
	}
	return u, nil
}

// lockBudget takes the cache-wide lock: an exclusive flock on the
// directory itself. The returned function releases it.
func lockBudget(root *os.Root) (func(), error) {
	d, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(budgetLockWait)
	delay := time.Millisecond
	for {
		ok, err := tryFlock(d)
		if err != nil {
			d.Close()
			return nil, err
		}
		if ok {
			return func() { d.Close() }, nil
		}
		if time.Now().After(deadline) {
			d.Close()
			return nil, fmt.Errorf("%w: the cache lock was held for %s", errNoRoom, budgetLockWait)
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// reserve makes room for n more bytes in the file f of the fill of e,
// which has reserved have bytes so far, and reserves them: it evicts least
// recently used entries until the objects (published and being filled,
// this one included) and the n bytes fit MaxBytes and the entries fit
// MaxEntries. It fails with errNoRoom when they cannot be made to fit.
// Evictions are counted in st too (the Client's, for the metrics).
func (ca *Cache) reserve(e entry, f *os.File, have, n int64, st *counters) error {
	unlock, err := lockBudget(e.root)
	if err != nil {
		return err
	}
	defer unlock()
	u, err := scanDir(e.root)
	if err != nil {
		return err
	}
	ca.sweep(e, u)
	// The own file counts what it reserved, which is what it may write
	// (the file system may round its allocation up by a block or two).
	if s := u.slots[e.key]; s != nil {
		u.bytes += have - s.parts
		s.parts = have
	}
	over := u.bytes + n - ca.maxBytes()
	extra := int64(u.entries - ca.maxEntries())
	if over > 0 || extra > 0 {
		var evicted int
		var evictedBytes int64
		over, extra, evicted, evictedBytes = ca.evictLRU(e, u, over, extra)
		st.evicted(evicted, evictedBytes)
	}
	ca.ctr.bytes.Store(u.bytes + n)
	ca.ctr.entries.Store(int64(u.entries))
	if over > 0 || extra > 0 {
		return fmt.Errorf("%w: %d bytes and %d entries over the bounds with every other entry in use", errNoRoom, max(over, 0), max(extra, 0))
	}
	if err := allocate(f, have, n); err != nil {
		return fmt.Errorf("%w: %w", errNoRoom, err)
	}
	return nil
}

// sweep removes what dead processes left: the temporary files and lock
// files of entries whose lock is free (a live fill holds its entry's lock
// for as long as its files exist). It updates u.
func (ca *Cache) sweep(own entry, u *usage) {
	for _, s := range u.slots {
		if s.key == own.key || !s.temps && !(s.lock && !s.counted()) {
			continue
		}
		e := entry{root: own.root, key: s.key}
		lk, ok, err := tryLockEntry(e)
		if err != nil || !ok {
			continue
		}
		if s.temps {
			e.removeTemps()
			counted := s.counted()
			u.bytes -= s.parts
			s.parts, s.part, s.temps = 0, false, false
			if counted && !s.counted() {
				u.entries--
			}
			ca.ctr.swept.Add(1)
		}
		e.unlock(lk)
	}
}

// evictLRU evicts entries, least recently used first, until over bytes
// and extra entries are gone, and returns what is still over, with the
// number of entries evicted and their bytes. It skips own, entries being
// filled and entries whose lock another open holds.
func (ca *Cache) evictLRU(own entry, u *usage, over, extra int64) (overLeft, extraLeft int64, evicted int, evictedBytes int64) {
	var cands []*slot
	for _, s := range u.slots {
		if s.key != own.key && !s.part && (s.data >= 0 || s.meta) {
			cands = append(cands, s)
		}
	}
	slices.SortFunc(cands, func(a, b *slot) int { return a.mtime.Compare(b.mtime) })
	for _, s := range cands {
		if over <= 0 && extra <= 0 {
			break
		}
		if over > 0 && extra <= 0 && s.data <= 0 {
			continue // frees no bytes
		}
		e := entry{root: own.root, key: s.key}
		lk, ok, err := tryLockEntry(e)
		if err != nil || !ok {
			continue
		}
		// Sizes may have changed since the scan; count what is removed.
		var size int64
		if fi, err := e.root.Stat(e.data()); err == nil {
			size = fi.Size()
		}
		e.remove()
		e.removeTemps()
		e.unlock(lk)
		over -= size
		extra--
		u.bytes -= size
		u.entries--
		ca.ctr.evictions.Add(1)
		ca.ctr.evictedBytes.Add(uint64(size))
		evicted++
		evictedBytes += size
	}
	return over, extra, evicted, evictedBytes
}

// Usage scans the cache directory and returns the bytes of its objects
// (published, and being filled) and its number of entries, as the bounds
// count them.
func (ca *Cache) Usage() (bytes int64, entries int, err error) {
	root, err := ca.dir()
	if err != nil {
		return 0, 0, err
	}
	u, err := scanDir(root)
	if err != nil {
		return 0, 0, err
	}
	return u.bytes, u.entries, nil
}
