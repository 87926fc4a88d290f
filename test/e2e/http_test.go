package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// httpOrigin is an HTTP origin on loopback for the tests. Objects:
//
//	/big/N      N bytes of pattern("big", ...) streamed, with Content-Length
//	/chunked/N  the same without Content-Length (chunked)
//	/img/NAME   4 MiB with an ETag (If-None-Match answered 304), sent at
//	            about 16 MiB/s so that fills overlap their readers
//	/missing    404, /secret 403, /broken 500
//	/stall      headers and 1000 bytes, then nothing
type httpOrigin struct {
	*httptest.Server
	requests atomic.Int64 // every request
	full     atomic.Int64 // 200 answers for /img
	notMod   atomic.Int64 // 304 answers
}

const imgSize = 4 << 20

func newHTTPOrigin(t *testing.T) *httpOrigin {
	t.Helper()
	o := &httpOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(o.Close)
	return o
}

func (o *httpOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/big/"), strings.HasPrefix(p, "/chunked/"):
		n, err := strconv.ParseInt(p[strings.LastIndexByte(p, '/')+1:], 10, 64)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(p, "/big/") {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.WriteHeader(http.StatusOK)
		io.Copy(w, io.LimitReader(newPatternReader("big"), n))
	case strings.HasPrefix(p, "/img/"):
		if r.Header.Get("If-None-Match") == `"v1"` {
			o.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		o.full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.Itoa(imgSize))
		src := io.LimitReader(newPatternReader(p), imgSize)
		buf := make([]byte, 256<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(15 * time.Millisecond)
			}
			if err != nil {
				return
			}
		}
	case p == "/missing":
		http.NotFound(w, r)
	case p == "/secret":
		http.Error(w, "forbidden", http.StatusForbidden)
	case p == "/broken":
		http.Error(w, "boom", http.StatusInternalServerError)
	case p == "/stall":
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	default:
		http.NotFound(w, r)
	}
}

// patternReader streams the bytes pattern(seed, n) would hold.
type patternReader struct{ x uint32 }

func newPatternReader(seed string) *patternReader {
	return &patternReader{x: uint32(len(seed)*2654435761 + 1)}
}

func (p *patternReader) Read(b []byte) (int, error) {
	x := p.x
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	p.x = x
	return len(b), nil
}

func patternSum(seed string, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, io.LimitReader(newPatternReader(seed), n))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// hashWriter hashes what the client receives, holding nothing.
type hashWriter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (w *hashWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return w.h.Write(b)
}

func (w *hashWriter) sum() (s [32]byte) {
	copy(s[:], w.h.Sum(nil))
	return s
}

// workerRSS samples the resident memory of the master's children whose
// name starts with prefix until stop is closed, and returns the largest
// value seen in KiB (with the number of samples that found a worker).
func workerRSS(masterPID int, prefix string, stop <-chan struct{}) (maxKiB int64, samples int) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, pid := range children(masterPID) {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if !strings.HasPrefix(string(comm), prefix) {
				continue
			}
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			for line := range strings.Lines(string(status)) {
				if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
					f := strings.Fields(rest)
					if len(f) > 0 {
						if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
							maxKiB = max(maxKiB, v)
							samples++
						}
					}
				}
			}
		}
		select {
		case <-stop:
			return maxKiB, samples
		case <-tick.C:
		}
	}
}

// TestHTTPOriginStreams: --http-origin serves names missing from the root
// from the origin, streaming: a 100 MiB object goes through a worker whose
// resident memory stays at a few MiB (sampled in /proc while it runs),
// tsize comes from Content-Length, a chunked object is served without
// tsize, and the origin's answers map to TFTP errors.
func TestHTTPOriginStreams(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"local.bin": 3000})
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "--http-timeout", "1s")
	if w := s.logValue("serving", "worker"); filepath.Base(w) != "fbtftp-worker-http" {
		t.Fatalf("--http-origin runs worker %q, want fbtftp-worker-http", w)
	}

	// A local file is served from the root; the origin is not asked.
	if b, _, err := get(t, s.addr, "local.bin", client.Options{}); err != nil || len(b) != 3000 {
		t.Fatalf("local file: %v", err)
	}
	if n := o.requests.Load(); n != 0 {
		t.Fatalf("the origin got %d requests for a local file", n)
	}
	if src := s.waitSessions(1)[0]["source"]; src != "file" {
		t.Errorf("local file: source %v, want file", src)
	}

	const big = 100 << 20
	stop := make(chan struct{})
	rss := make(chan [2]int64, 1)
	go func() {
		m, n := workerRSS(s.pid(), "fbtftp-worker-h", stop)
		rss <- [2]int64{m, int64(n)}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	hw := &hashWriter{h: sha256.New()}
	res, err := client.Get(ctx, s.addr, "big/"+strconv.Itoa(big), client.Options{Blksize: 65464, Windowsize: 8, Tsize: true, Timeout: time.Second}, hw)
	close(stop)
	if err != nil {
		t.Fatalf("100 MiB from the origin: %v", err)
	}
	if hw.n != big || hw.sum() != patternSum("big", big) {
		t.Fatalf("100 MiB: got %d bytes, content differs", hw.n)
	}
	if res.Tsize != big {
		t.Errorf("tsize %d, want %d (Content-Length)", res.Tsize, big)
	}
	r := <-rss
	t.Logf("100 MiB streamed in %v; worker VmRSS peak %d KiB over %d samples", res.Duration.Round(time.Millisecond), r[0], r[1])
	if r[1] == 0 {
		t.Fatal("no worker was seen while the transfer ran")
	}
	if r[0] > 24<<10 {
		t.Errorf("worker resident memory reached %d KiB streaming 100 MiB: the object is being buffered", r[0])
	}

	// Chunked: no Content-Length, so no tsize; the bytes still arrive.
	hw = &hashWriter{h: sha256.New()}
	res, err = client.Get(ctx, s.addr, "chunked/3000000", client.Options{Blksize: 1468, Tsize: true, Timeout: time.Second}, hw)
	if err != nil || hw.n != 3000000 || hw.sum() != patternSum("big", 3000000) {
		t.Fatalf("chunked: %v, %d bytes", err, hw.n)
	}
	if res.Tsize != -1 {
		t.Errorf("chunked: tsize %d acknowledged, want none", res.Tsize)
	}

	for _, c := range []struct {
		name string
		code proto.ErrorCode
		log  string // in the worker's log, never on the wire
	}{
		{"missing", proto.ErrNotFound, "404 Not Found"},
		{"secret", proto.ErrAccessViolation, "403 Forbidden"},
		{"broken", proto.ErrUndefined, "500 Internal Server Error"},
		{"stall", proto.ErrUndefined, "origin idle timeout"},
	} {
		_, _, err := get(t, s.addr, c.name, client.Options{})
		var se *tftp.Error
		if !errors.As(err, &se) || se.Code != c.code {
			t.Errorf("%s: %v, want ERROR %d", c.name, err, c.code)
			continue
		}
		if strings.Contains(se.Message, "127.0.0.1") || strings.ContainsAny(se.Message, "0123456789") {
			t.Errorf("%s: the wire message %q carries details", c.name, se.Message)
		}
		eventually(t, 5*time.Second, c.name+" in the log", func() bool { return strings.Contains(s.log(), c.log) })
	}
}

// TestHTTPOriginCacheBootStorm: with --http-cache, 100 concurrent
// downloads of one object (100 worker processes) cost the origin one
// fetch; a UEFI-style size probe followed by the download costs one too
// (the probe's worker finishes the fill after its session); later
// downloads revalidate with If-None-Match and get 304.
func TestHTTPOriginCacheBootStorm(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	cache := filepath.Join(t.TempDir(), "cache") // outside the root, parents 0700: opened before the chroot
	// The 100 machines all come from 127.0.0.1: no per-client limit.
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "--http-cache", cache, "--max-workers", "200",
		"--max-sessions-per-client", "0")

	want := patternSum("/img/a", imgSize)
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			hw := &hashWriter{h: sha256.New()}
			res, err := client.Get(ctx, s.addr, "img/a", client.Options{Blksize: 8192, Windowsize: 4, Tsize: true, Timeout: 2 * time.Second}, hw)
			switch {
			case err != nil:
				errs <- fmt.Errorf("download %d: %w", i, err)
			case hw.n != imgSize || hw.sum() != want:
				errs <- fmt.Errorf("download %d: wrong content (%d bytes)", i, hw.n)
			case res.Tsize != imgSize:
				errs <- fmt.Errorf("download %d: tsize %d", i, res.Tsize)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := o.full.Load(); got != 1 {
		t.Fatalf("%d concurrent downloads cost the origin %d full fetches, want 1", n, got)
	}
	// The session lines say where each download's content came from: one
	// fetched it from the origin, the others read the cached copy.
	sources := map[any]int{}
	for _, l := range s.waitSessions(n) {
		sources[l["source"]]++
	}
	if sources["origin"] != 1 || sources["cache"] != n-1 {
		t.Errorf("session sources %v, want 1 origin and %d cache", sources, n-1)
	}
	t.Logf("%d downloads: %d origin requests (%d full, %d not modified)", n, o.requests.Load(), o.full.Load(), o.notMod.Load())

	// The UEFI pattern: tsize probe, ERROR 8, then the download, on an
	// object not cached yet.
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "img/b", "octet", []proto.Option{{Name: "tsize", Value: "0"}})
	p, err := sess.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpOACK {
		t.Fatalf("probe: %+v %v", p, err)
	}
	sess.SendError(p.From, proto.ErrOptionRefused, "User aborted the transfer")
	hw := &hashWriter{h: sha256.New()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := client.Get(ctx, s.addr, "img/b", client.Options{Blksize: 1468, Tsize: true}, hw); err != nil || hw.sum() != patternSum("/img/b", imgSize) {
		t.Fatalf("download after the probe: %v", err)
	}
	if got := o.full.Load(); got != 2 {
		t.Fatalf("probe + download cost %d full fetches of img/b, want 1", got-1)
	}

	// Later downloads revalidate: 304, the cached copy is served.
	before := o.notMod.Load()
	if b, _, err := get(t, s.addr, "img/a", client.Options{Blksize: 1468}); err != nil || sha256.Sum256(b) != want {
		t.Fatalf("revalidated download: %v", err)
	}
	if o.notMod.Load() != before+1 || o.full.Load() != 2 {
		t.Fatalf("revalidation: %d not-modified, %d full fetches", o.notMod.Load()-before, o.full.Load())
	}
	ss := s.waitSessions(n + 3)
	if last := ss[len(ss)-1]; last["source"] != "cache" {
		t.Errorf("revalidated download: source %v, want cache", last["source"])
	}
	// The cache is not reachable through TFTP: it is outside the root.
	ents, _ := os.ReadDir(cache)
	if len(ents) == 0 {
		t.Fatal("nothing in the cache directory")
	}
	if _, _, err := get(t, s.addr, ents[0].Name(), client.Options{}); err == nil {
		t.Fatal("a cache file was served")
	}
}

// TestHTTPRoutes: a map file whose rules produce URLs makes the master run
// fbtftp-worker-http on its own; only origins the rules spell out are
// contacted; --http-allow-net keeps the workers on the listed networks
// (the route to 192.0.2.1, TEST-NET-1, fails before any packet is sent).
func TestHTTPRoutes(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	mapFile := filepath.Join(t.TempDir(), "map")
	rules := "r ^/?boot/(.*) " + o.URL + "/\\1\n" +
		"r ^/?any/(.*) http://\\1\n" + // the client picks the host: refused
		"r ^/?far/(.*) http://192.0.2.1:9/\\1\n"
	if err := os.WriteFile(mapFile, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, root, "127.0.0.1:0", "--auto-worker", "-m", mapFile, "--http-allow-net", "127.0.0.0/8,::1/128")
	if w := s.logValue("serving", "worker"); filepath.Base(w) != "fbtftp-worker-http" {
		t.Fatalf("map file with URL routes runs worker %q, want fbtftp-worker-http", w)
	}
	b, res, err := get(t, s.addr, "boot/big/5000", client.Options{Tsize: true})
	if err != nil || !bytes.Equal(b, pattern("big", 5000)) || res.Tsize != 5000 {
		t.Fatalf("routed download: %v (%d bytes, tsize %d)", err, len(b), res.Tsize)
	}
	other := newHTTPOrigin(t) // on loopback too, but no rule names it
	_, _, err = get(t, s.addr, "any/"+strings.TrimPrefix(other.URL, "http://")+"/big/10", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != proto.ErrAccessViolation {
		t.Fatalf("route with a client-chosen host: %v, want ERROR 2", err)
	}
	if n := other.requests.Load(); n != 0 {
		t.Fatalf("a route to an origin the rules do not spell out was fetched (%d requests)", n)
	}
	_, _, err = get(t, s.addr, "far/x", client.Options{})
	if !errors.As(err, &se) || se.Code != proto.ErrUndefined {
		t.Fatalf("route outside --http-allow-net: %v, want ERROR 0", err)
	}
	eventually(t, 5*time.Second, "allow-net refusal in the log", func() bool {
		return strings.Contains(s.log(), "outside the allowed networks")
	})

	// The lean worker, named explicitly, refuses URL routes cleanly.
	s2 := startServer(t, root, "127.0.0.1:0", "-m", mapFile)
	if _, _, err := get(t, s2.addr, "boot/big/10", client.Options{}); !errors.As(err, &se) || se.Code != proto.ErrUndefined {
		t.Fatalf("URL route on fbtftp-worker: %v, want ERROR 0", err)
	}
	eventually(t, 5*time.Second, "no-HTTP message", func() bool { return strings.Contains(s2.log(), "run fbtftp-worker-http") })
}

// TestHTTPClientURLsAndTraversal: the audit's findings, through the real
// master. A client that sends a URL as its file name does not make the
// worker fetch it (with --http-origin it is only a name under the
// origin's prefix), and a map rule's \1 cannot leave the rule's prefix
// with "..", encoded dots, a query or a fragment: ERROR 2 and no request.
func TestHTTPClientURLsAndTraversal(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	mapFile := filepath.Join(t.TempDir(), "map")
	if err := os.WriteFile(mapFile, []byte("r ^/?boot/(.*) "+o.URL+"/big/\\1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, root, "127.0.0.1:0", "--auto-worker", "-m", mapFile, "--http-origin", o.URL+"/tftp/")
	host := strings.TrimPrefix(o.URL, "http://")
	var se *tftp.Error
	for _, name := range []string{"http://admin:pw@" + host + "/big/10", "http://" + host + "/big/10"} {
		b, _, err := get(t, s.addr, name, client.Options{})
		if !errors.As(err, &se) || se.Code != proto.ErrNotFound {
			t.Fatalf("client-sent URL %q: %d bytes, %v; want ERROR 1 (a name under /tftp/)", name, len(b), err)
		}
	}
	before := o.requests.Load()
	for _, name := range []string{"boot/../secret", "boot/%2e%2e/secret", "boot/10?x=1", "boot/10#x", "boot/.%2E/secret"} {
		if _, _, err := get(t, s.addr, name, client.Options{}); !errors.As(err, &se) || se.Code != proto.ErrAccessViolation {
			t.Errorf("%q: %v, want ERROR 2", name, err)
		}
	}
	if n := o.requests.Load() - before; n != 0 {
		t.Fatalf("%d refused routes reached the origin", n)
	}
	if b, _, err := get(t, s.addr, "boot/10", client.Options{}); err != nil || !bytes.Equal(b, pattern("big", 10)) {
		t.Fatalf("the rule's own route: %v", err)
	}
}

// TestHTTPCacheInsideRootRefused: the cache must not be reachable by
// clients; the master refuses to start with it inside the root.
func TestHTTPCacheInsideRootRefused(t *testing.T) {
	root := worldReadableDir(t)
	cmd := exec.Command(filepath.Join(bin, "fbtftp-master"), "-L", "-a", "127.0.0.1:0", "-s", root,
		"--http-origin", "http://127.0.0.1:1/", "--http-cache", filepath.Join(root, "cache"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 78 || !strings.Contains(string(out), "inside the served directory") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}

// TestHTTPOriginRetransmitsWithoutRefetch: a streamed (uncached, chunked:
// no ReadAt) object whose blocks the client makes the server resend, by
// not acknowledging them, is fetched from the origin once; the resent
// blocks come from the window buffer, byte-identical.
func TestHTTPOriginRetransmitsWithoutRefetch(t *testing.T) {
	o := newHTTPOrigin(t)
	root := worldReadableDir(t)
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "-T", "100000") // 100 ms retransmit timeout
	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	const size = 40 * 512
	sess.SendRequest(proto.OpRRQ, "chunked/"+strconv.Itoa(size), "octet", []proto.Option{{Name: "windowsize", Value: "4"}})
	p, err := sess.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpOACK {
		t.Fatalf("want OACK: %+v %v", p, err)
	}
	peer := p.From
	sess.SendAck(peer, 0)
	var got bytes.Buffer
	seen := map[uint16][]byte{}
	resent := 0
	next := uint16(1)
	for range 400 { // bounded: 40 blocks, each at most a few times
		p, err := sess.RecvPacket(5 * time.Second)
		if err != nil {
			t.Fatalf("receiving block %d: %v", next, err)
		}
		if p.Op != proto.OpDATA {
			t.Fatalf("unexpected %+v", p)
		}
		if prev, ok := seen[p.Block]; ok {
			resent++
			if !bytes.Equal(prev, p.Payload) {
				t.Fatalf("block %d resent with other bytes", p.Block)
			}
		} else {
			seen[p.Block] = bytes.Clone(p.Payload)
		}
		if p.Block != next {
			continue
		}
		// The first window is acknowledged only the second time its last
		// block arrives: the timeout makes the server send it again.
		last := p.Block%4 == 0 || len(p.Payload) < 512
		if last && resent == 0 && p.Block == 4 {
			continue // let the timeout resend the first window
		}
		got.Write(p.Payload)
		next++
		if last {
			sess.SendAck(peer, p.Block)
		}
		if len(p.Payload) < 512 {
			break
		}
	}
	if got.Len() != size || !bytes.Equal(got.Bytes(), pattern("big", size)) {
		t.Fatalf("got %d bytes, content differs", got.Len())
	}
	if resent == 0 {
		t.Fatal("the server resent nothing: the test did not exercise retransmission")
	}
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("%d origin requests for one download with %d resent blocks, want 1", n, resent)
	}
	t.Logf("%d blocks resent, 1 origin request", resent)
}

// TestHTTPSOriginInChroot: an https origin works from a chrooted worker:
// the certificate authorities (here SSL_CERT_FILE, the test server's own
// certificate) are loaded before the chroot hides them.
func TestHTTPSOriginInChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the worker only chroots when the master runs as root")
	}
	body := pattern("tls", 70000)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/boot/kernel" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer ts.Close()
	root := worldReadableDir(t)

	// Without SSL_CERT_FILE, no authority vouches for the test server's
	// certificate: refused.
	s1 := startServer(t, root, "127.0.0.1:0", "--http-origin", ts.URL+"/boot/")
	_, _, err := get(t, s1.addr, "kernel", client.Options{})
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != proto.ErrUndefined {
		t.Fatalf("untrusted certificate: %v, want ERROR 0", err)
	}
	eventually(t, 5*time.Second, "certificate error in the log", func() bool {
		return strings.Contains(s1.log(), "certificate")
	})

	pemFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", pemFile) // inherited by the master and its workers
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", ts.URL+"/boot/")
	b, res, err := get(t, s.addr, "kernel", client.Options{Tsize: true})
	if err != nil || !bytes.Equal(b, body) || res.Tsize != int64(len(body)) {
		t.Fatalf("https origin from a chrooted worker: %v (%d bytes)", err, len(b))
	}
}

// TestHTTPClientHeaders: with --http-client-headers the origin learns who
// asks and can answer per machine; its "Cache-Control: private" answers
// are never stored, so with --http-cache too each client gets its own.
func TestHTTPClientHeaders(t *testing.T) {
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body := "menu for " + r.Header.Get("X-TFTP-Client-IP") + " asking " + r.Header.Get("X-TFTP-Filename") + "\n"
		w.Header().Set("Cache-Control", "private")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
	}))
	defer o.Close()
	root := worldReadableDir(t)
	s := startServer(t, root, ":0", "--http-origin", o.URL+"/", "--http-client-headers",
		"--http-cache", filepath.Join(t.TempDir(), "cache"), "--http-cache-max-age", "1h")
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.2"} {
		local := netip.AddrPortFrom(netip.MustParseAddr(ip), 0)
		to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.addr.Port())
		b, _, err := get(t, to, "grub.cfg", client.Options{LocalAddr: local})
		if want := "menu for " + ip + " asking grub.cfg\n"; err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v; want %q", ip, b, err, want)
		}
	}
	if n := requests.Load(); n != 3 {
		t.Fatalf("%d origin requests for 3 private answers, want 3", n)
	}
}

// TestHTTPCacheFollowAcrossWorkers: while one worker fills the cache, a
// second worker (another process) sends its client the first blocks
// before the origin has sent the rest of the object: it reads the fill
// along instead of waiting for the whole object.
func TestHTTPCacheFollowAcrossWorkers(t *testing.T) {
	const size = 2 << 20
	release := make(chan struct{})
	var requests atomic.Int64
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(size))
		src := newPatternReader("follow")
		io.CopyN(w, src, size/2)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		io.CopyN(w, src, size/2)
	}))
	defer o.Close()
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	root := worldReadableDir(t)
	s := startServer(t, root, "127.0.0.1:0", "--http-origin", o.URL+"/", "--http-cache", filepath.Join(t.TempDir(), "cache"))

	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		hw := &hashWriter{h: sha256.New()}
		_, err := client.Get(ctx, s.addr, "obj", client.Options{Blksize: 1468, Timeout: 2 * time.Second}, hw)
		if err == nil && hw.sum() != patternSum("follow", size) {
			err = errors.New("wrong content")
		}
		first <- err
	}()
	eventually(t, 10*time.Second, "the first worker's origin request", func() bool { return requests.Load() == 1 })

	sess, err := client.NewSession(s.addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SendRequest(proto.OpRRQ, "obj", "octet", nil)
	p, err := sess.RecvPacket(10 * time.Second)
	if err != nil || p.Op != proto.OpDATA || p.Block != 1 || len(p.Payload) != 512 {
		t.Fatalf("second worker, origin still mid-object: %+v %v (want DATA 1 at once)", p, err)
	}
	if !bytes.Equal(p.Payload, pattern("follow", 512)) {
		t.Fatal("second worker's first block differs")
	}
	sess.SendError(p.From, proto.ErrUndefined, "enough")
	close(release)
	released = true
	if err := <-first; err != nil {
		t.Fatalf("first download: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d origin requests, want 1", n)
	}
}
