package origin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// maxMetaSize bounds a metadata file; a larger one is not ours.
const maxMetaSize = 64 << 10

// meta is what a cache entry remembers about its data, in <key>.meta as
// JSON. It is written to a temporary file and renamed into place.
type meta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"`
	// Validated is when the origin last confirmed this content (the end
	// of the fetch or a 304), in Unix nanoseconds.
	Validated int64 `json:"validated"`
	// Oversize marks a note, not an entry: there is no data, because the
	// object's chunked body outgrew the cache when Validated was. For
	// OversizeTTL the URL is streamed uncached.
	Oversize bool `json:"oversize,omitempty"`
}

func (m meta) validated() time.Time { return time.Unix(0, m.Validated) }

// decodeMeta parses a metadata file strictly: one JSON object with known
// fields, a URL and a size that is not negative.
func decodeMeta(b []byte) (meta, error) {
	var m meta
	if len(b) > maxMetaSize {
		return m, errors.New("metadata too large")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return meta{}, fmt.Errorf("metadata: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return meta{}, errors.New("metadata: data after the object")
	}
	if m.URL == "" || m.Size < 0 {
		return meta{}, errors.New("metadata: no url or a negative size")
	}
	return m, nil
}

// entry names the files of one cache entry in the cache directory root:
// <key>.{lock,data,meta}, and the temporary files <key>.*.part (data
// being fetched) and <key>.*.mtmp (metadata being written). Every file is
// used through root by its name, never by a path.
type entry struct {
	root *os.Root
	key  string
}

// keyOf is the entry key of a URL: the hex SHA-256 of its text.
func keyOf(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

func (e entry) lock() string { return e.key + ".lock" }
func (e entry) data() string { return e.key + ".data" }
func (e entry) meta() string { return e.key + ".meta" }

// read returns the entry's metadata when the entry is complete: metadata
// for url and a data file of the recorded size. The caller holds the lock.
func (e entry) read(url string) (meta, bool) {
	m, ok := e.readMeta(url)
	return m, ok && e.complete(m)
}

// complete reports whether m describes a published object whose data file
// has the recorded size.
func (e entry) complete(m meta) bool {
	if m.Oversize {
		return false
	}
	fi, err := e.root.Stat(e.data())
	return err == nil && fi.Mode().IsRegular() && fi.Size() == m.Size
}

// oversized reports whether m is a note, younger than OversizeTTL, that
// the object outgrew the cache.
func (m meta) oversized() bool {
	return m.Oversize && time.Since(m.validated()) < OversizeTTL
}

// readMeta returns the entry's metadata file when it decodes and is about
// url. The caller holds the lock.
func (e entry) readMeta(url string) (meta, bool) {
	f, err := e.root.Open(e.meta())
	if err != nil {
		return meta{}, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxMetaSize+1))
	f.Close()
	if err != nil {
		return meta{}, false
	}
	m, err := decodeMeta(b)
	if err != nil || m.URL != url {
		return meta{}, false
	}
	return m, true
}

// writeMeta replaces the metadata file atomically. The caller holds the
// lock.
func (e entry) writeMeta(m meta) error { return e.writeJSON(e.meta(), m, true) }

// writeJSON replaces the entry's file name with v as JSON, atomically
// (temp + rename), fsynced first when sync is set.
func (e entry) writeJSON(name string, v any, sync bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, tmp, err := createTemp(e.root, e.key+".", ".mtmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = e.root.Rename(tmp, name)
	}
	if err != nil {
		e.root.Remove(tmp)
	}
	return err
}

// touch marks the entry used now: its data file's times are the LRU clock
// (set explicitly, so noatime and relatime mounts do not matter).
func (e entry) touch() {
	now := time.Now()
	e.root.Chtimes(e.data(), now, now)
}

// remove deletes the entry's data and metadata. The caller holds the lock.
func (e entry) remove() {
	e.root.Remove(e.meta())
	e.root.Remove(e.data())
}

// unlock releases the entry lock lk and removes the lock file, which is
// the holder's to remove (lockEntry handles an open of the name that
// races with it): lock files exist only while an entry is in use, so
// names that were asked for once, or that got 404, leave no file.
func (e entry) unlock(lk *os.File) {
	e.root.Remove(e.lock())
	lk.Close()
}

// removeTemps deletes temporary files a dead process left for this entry.
// The caller holds the lock, so no live process is writing them.
func (e entry) removeTemps() {
	ents, _ := readDir(e.root)
	for _, d := range ents {
		n := d.Name()
		if strings.HasPrefix(n, e.key+".") && (strings.HasSuffix(n, ".part") || strings.HasSuffix(n, ".mtmp") || n == e.marker()) {
			e.root.Remove(n)
		}
	}
}
