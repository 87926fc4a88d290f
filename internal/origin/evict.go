package origin

import (
	"slices"
	"strings"
	"time"
)

// evict removes least recently used entries until the published data files
// fit MaxBytes. Recency is the data file's modification time, which every
// use sets (entry.touch). It skips keep (the entry just published) and any
// entry whose lock another open holds (in use or being fetched); the
// lock file itself is removed too, under the lock (see lockEntry).
// Temporary files of fetches in progress are not counted.
// It returns the number of entries removed and their data's size.
func (ca *Cache) evict(keep entry) (removed int, removedBytes int64) {
	ents, err := readDir(keep.root)
	if err != nil {
		return 0, 0
	}
	type cand struct {
		key   string
		size  int64
		mtime time.Time
	}
	var cands []cand
	var total int64
	for _, d := range ents {
		key, ok := strings.CutSuffix(d.Name(), ".data")
		if !ok || !d.Type().IsRegular() {
			continue
		}
		fi, err := d.Info()
		if err != nil {
			continue
		}
		total += fi.Size()
		if key != keep.key {
			cands = append(cands, cand{key, fi.Size(), fi.ModTime()})
		}
	}
	limit := ca.maxBytes()
	if total <= limit {
		return 0, 0
	}
	slices.SortFunc(cands, func(a, b cand) int { return a.mtime.Compare(b.mtime) })
	for _, c := range cands {
		if total <= limit {
			return removed, removedBytes
		}
		e := entry{root: keep.root, key: c.key}
		lk, ok, err := tryLockEntry(e)
		if err != nil || !ok {
			continue
		}
		// Sizes may have changed since the scan; count what is removed.
		if fi, err := e.root.Stat(e.data()); err == nil {
			e.remove()
			total -= fi.Size()
			removed++
			removedBytes += fi.Size()
		}
		e.root.Remove(e.lock())
		lk.Close()
	}
	return removed, removedBytes
}
