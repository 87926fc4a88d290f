package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// cacheDiskBytes returns the bytes the files of dir take on disk: the
// objects (.data and .part files, which --http-cache-size bounds) and all.
func cacheDiskBytes(dir string) (objects, all int64) {
	ents, _ := os.ReadDir(dir)
	for _, d := range ents {
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				all += st.Blocks * 512
				if strings.HasSuffix(d.Name(), ".data") || strings.HasSuffix(d.Name(), ".part") {
					objects += st.Blocks * 512
				}
			}
		}
	}
	return objects, all
}

// diskPeak samples cacheDiskBytes(dir) until stop is called, and returns
// the largest values seen.
func diskPeak(dir string) (stop func() (objects, all int64)) {
	var objects, all atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			o, a := cacheDiskBytes(dir)
			objects.Store(max(objects.Load(), o))
			all.Store(max(all.Load(), a))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() (int64, int64) { close(done); wg.Wait(); return objects.Load(), all.Load() }
}

// workersOf counts the master's worker processes whose name starts with
// prefix.
func workersOf(masterPID int, prefix string) int {
	n := 0
	for _, pid := range children(masterPID) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.HasPrefix(string(comm), prefix) {
			n++
		}
	}
	return n
}

// uefiProbe sends a tsize probe for name and refuses the OACK (ERROR 8),
// as UEFI firmware does before its download.
func uefiProbe(t *testing.T, addr netip.AddrPort, name string) {
	t.Helper()
	sess, err := client.NewSession(addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, name, "octet", []proto.Option{{Name: "tsize", Value: "0"}})
	p, err := sess.RecvPacket(10 * time.Second)
	if err != nil {
		t.Fatalf("probe of %s: %v", name, err)
	}
	if p.Op == proto.OpOACK || p.Op == proto.OpDATA {
		sess.SendError(p.From, proto.ErrOptionRefused, "User aborted the transfer")
	}
}

// TestHTTPCacheBudgetEndlessChunked: an origin whose chunked body does not
// end (16 MiB here, 16 times the cache) against --http-cache-size 1M. The
// cache directory never holds more than the budget and one block while
// the client downloads all of it (the rest is streamed past the cache);
// a size probe of another such object stops its fill at the budget and
// its worker exits at once.
func TestHTTPCacheBudgetEndlessChunked(t *testing.T) {
	const budget = 1 << 20
	const total = 16 << 20
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		n := int64(total)
		if strings.HasPrefix(r.URL.Path, "/probe") {
			n = 64 << 20 // 64 times the budget: what a broken budget would write
		}
		io.Copy(w, io.LimitReader(newPatternReader("endless"), n))
	}))
	defer o.Close()
	root := worldReadableDir(t)
	cache := filepath.Join(t.TempDir(), "cache")
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "--http-cache", cache, "--http-cache-size", "1M")

	stop := diskPeak(cache)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	hw := &hashWriter{h: sha256.New()}
	_, err := client.Get(ctx, s.addr, "endless", client.Options{Blksize: 65464, Windowsize: 8, Timeout: time.Second}, hw)
	if err != nil || hw.n != total || hw.sum() != patternSum("endless", total) {
		stop()
		t.Fatalf("download: %v, %d of %d bytes", err, hw.n, total)
	}
	s.waitSessions(1)

	uefiProbe(t, s.addr, "probe")
	eventually(t, 60*time.Second, "the probe's worker exits", func() bool {
		return len(s.waitSessions(2)) == 2 && workersOf(s.pid(), "fbtftp-worker") == 0
	})
	objects, all := stop()
	t.Logf("cache peak %d bytes of objects, %d in all, on disk for a %d byte budget", objects, all, budget)
	// The objects stay within the budget (plus a block the file system
	// may add for its own bookkeeping); the metadata (here the note of
	// the first download) adds a block per entry.
	if objects > budget+4096 || all > objects+2*4096 {
		t.Errorf("the cache directory held %d bytes of objects and %d in all, budget %d", objects, all, budget)
	}
	// What stays: a note per URL that it outgrew the cache.
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".meta") {
			t.Errorf("left in the cache: %s", e.Name())
		}
	}
}

// TestHTTPCacheEntries: --http-cache-entries bounds the objects kept; each
// is two files at rest.
func TestHTTPCacheEntries(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	cache := filepath.Join(t.TempDir(), "cache")
	s := startServer(t, root, "127.0.0.1:0", idleExit("--http-origin", o.URL+"/", "--http-cache", cache, "--http-cache-entries", "2")...)
	for i := range 5 {
		name := "big/" + strconv.Itoa(1000+i)
		if b, _, err := get(t, s.addr, name, client.Options{}); err != nil || len(b) != 1000+i {
			t.Fatalf("%s: %v", name, err)
		}
		s.waitSessions(i + 1)
	}
	get(t, s.addr, "missing", client.Options{})
	eventually(t, 10*time.Second, "the workers exit", func() bool { return workersOf(s.pid(), "fbtftp-worker") == 0 })
	ents, _ := os.ReadDir(cache)
	if len(ents) != 4 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the cache holds %d files, want 4 (2 entries): %q", len(ents), names)
	}
}

// TestHTTPFillTimeout: a fill that outlives its session (a UEFI size
// probe of an object the origin trickles) is stopped after
// --http-fill-timeout: the worker says so in its log, leaves no
// temporary file and exits, long before the session deadline.
func TestHTTPFillTimeout(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		for range 3000 { // 512 bytes every 20 ms: never idle, done in hours
			if _, err := w.Write(make([]byte, 512)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer o.Close()
	root := worldReadableDir(t)
	cache := filepath.Join(t.TempDir(), "cache")
	s := startServer(t, root, "127.0.0.1:0", idleExit("--http-origin", o.URL+"/", "--http-cache", cache, "--http-fill-timeout", "1s")...)
	uefiProbe(t, s.addr, "initrd")
	s.waitSessions(1)
	start := time.Now()
	eventually(t, 30*time.Second, "the worker's fill is stopped and the worker exits", func() bool {
		return workersOf(s.pid(), "fbtftp-worker") == 0
	})
	t.Logf("the worker exited %v after its session", time.Since(start).Round(time.Millisecond))
	eventually(t, 5*time.Second, "the worker logs the stopped fill", func() bool {
		return strings.Contains(s.log(), "stopped 1 cache fill(s): cache fill time limit reached (1s after the session)")
	})
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("%d files left in the cache", len(ents))
	}
}
