package origin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// Following a fill from another process. The leader of a fill whose
// Content-Length is known writes <key>.fill, naming its temporary file and
// the object's size, for as long as the fill runs. An Open in another
// process that finds the entry locked reads that file and, instead of
// waiting for the whole object, reads the temporary file along as it
// grows: a TFTP client's first block then waits for the origin's first
// bytes, not its last. The leader holding the entry lock is the fill's
// sign of life: once the lock is free, bytes that are still missing never
// come (the fill failed and its file is gone) and the read fails.

// fillMarker is the content of <key>.fill.
type fillMarker struct {
	URL  string `json:"url"`
	Part string `json:"part"` // the temporary file's name in the cache directory
	Size int64  `json:"size"` // Content-Length
}

// errFollow stops lockEntry's wait: another process's fill can be read
// along.
var errFollow = errors.New("following another process's fill")

func (e entry) marker() string { return e.key + ".fill" }

// writeMarker announces a fill (temp + rename, like the metadata; not
// fsynced: it only matters while the fill runs).
func (e entry) writeMarker(m fillMarker) error { return e.writeJSON(e.marker(), m, false) }

// follow returns the fill of url another process announced, opened, with
// its temporary file's name and the object's size, or
// false when there is none to follow (no marker, another URL, an unknown
// size, or a fill that already ended).
func (e entry) follow(url string) (*os.File, string, int64, bool) {
	b, err := e.root.ReadFile(e.marker())
	if err != nil || len(b) > maxMetaSize {
		return nil, "", 0, false
	}
	var m fillMarker
	if json.Unmarshal(b, &m) != nil || m.URL != url || m.Size < 0 || !validPart(e, m.Part) {
		return nil, "", 0, false
	}
	f, err := e.root.Open(m.Part)
	if err != nil {
		return nil, "", 0, false
	}
	return f, m.Part, m.Size, true
}

// validPart reports whether name is one of e's temporary data files (the
// marker is data from another process: it must not name anything else).
func validPart(e entry, name string) bool {
	rnd, ok := strings.CutPrefix(name, e.key+".")
	rnd, ok2 := strings.CutSuffix(rnd, ".part")
	return ok && ok2 && rnd != "" && !strings.ContainsAny(name, "/\x00")
}

// followReader reads another process's fill as it grows. It implements
// io.ReaderAt: a read past the bytes written so far polls (1 ms doubling
// to 20 ms) for at most idle without growth, and fails once the leader
// has released the entry lock with bytes still missing.
type followReader struct {
	f    *os.File
	e    entry
	size int64
	idle time.Duration
	url  string // redacted, for errors
	part string // the fill's temporary file (the marker names it while it runs)
	off  int64  // for Read
}

func (r *followReader) Size() (int64, bool) { return r.size, true }
func (r *followReader) Close() error        { return r.f.Close() }

// Source reports the content as served through the cache: the origin is
// fetched once, by the leader.
func (r *followReader) Source() stats.Source { return stats.SourceCache }

func (r *followReader) Read(b []byte) (int, error) {
	n, err := r.ReadAt(b, r.off)
	r.off += int64(n)
	return n, err
}

func (r *followReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(off+int64(len(b)), r.size)
	delay := time.Millisecond
	last, since := int64(-1), time.Now()
	for {
		fi, err := r.f.Stat()
		if err != nil {
			return 0, wrap(errOrigin, r.url, err)
		}
		have := fi.Size()
		if have >= want {
			n, err := r.f.ReadAt(b[:want-off], off)
			if err == nil && want-off < int64(len(b)) {
				err = io.EOF // b reaches past the object's end
			}
			return n, err
		}
		if have != last {
			last, since = have, time.Now()
		}
		if r.leaderGone() {
			// The lock was released: complete now, or never.
			if fi, err := r.f.Stat(); err == nil && fi.Size() >= want {
				continue
			}
			return 0, wrap(errOrigin, r.url, fmt.Errorf("the fill in another process ended at %d of %d bytes", have, r.size))
		}
		if time.Since(since) > r.idle {
			return 0, wrap(errOrigin, r.url, fmt.Errorf("%w: the fill in another process made no progress for %s", ErrIdleTimeout, r.idle))
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// leaderGone reports whether the fill ended: its marker is gone, or the
// entry lock is free (taking it for an instant to know; a killed leader
// leaves its marker but not its lock).
func (r *followReader) leaderGone() bool {
	var m fillMarker
	if b, err := r.e.root.ReadFile(r.e.marker()); err != nil || len(b) > maxMetaSize || json.Unmarshal(b, &m) != nil || m.Part != r.part {
		// The fill announced no longer runs (it ended, failed or was
		// stopped): it removes its marker first, even while its own
		// readers keep its entry locked.
		return true
	}
	lk, ok, err := tryLockEntry(r.e)
	if err != nil || !ok {
		return false
	}
	r.e.unlock(lk)
	return true
}
