package httporigin

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// testOrigin serves /obj (Content-Length), /chunked, /missing (404),
// /secret (403), /broken (500) and /slow (no answer for a while), and
// counts the requests per path.
type testOrigin struct {
	*httptest.Server
	body []byte
	hits atomic.Int64
	last atomic.Value // the last request path (escaped)
}

func newTestOrigin(t *testing.T) *testOrigin {
	t.Helper()
	o := &testOrigin{body: bytes.Repeat([]byte("0123456789abcdef"), 4096)}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		o.last.Store(r.URL.EscapedPath())
		switch {
		case r.URL.Path == "/chunked":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush() // no Content-Length: chunked
			w.Write(o.body)
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		case r.URL.Path == "/secret":
			http.Error(w, "no", http.StatusForbidden)
		case r.URL.Path == "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case r.URL.Path == "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
			w.Write(o.body)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

// newRequest is a request whose name the map rules turned into path (a
// route when path is a URL).
func newRequest(path string) *fbtftp.Request {
	return &fbtftp.Request{
		Op: tftp.OpRRQ, Filename: "routed/by/a/rule", Path: path, Mode: "octet",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// clientRequest is a request for name with no map rule applied.
func clientRequest(name string) *fbtftp.Request {
	r := newRequest(name)
	r.Filename = name
	return r
}

// localFiles is a next handler: names in the map exist, others are not
// found.
type localFiles map[string]string

func (l localFiles) ServeTFTP(_ context.Context, r *fbtftp.Request) (fbtftp.ResponseData, error) {
	if s, ok := l[r.Path]; ok {
		return fbtftp.BytesResponse([]byte(s)), nil
	}
	return nil, fs.ErrNotExist // as the file store does
}

func readAll(t *testing.T, d fbtftp.ResponseData) []byte {
	t.Helper()
	defer d.Close()
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServeRoutes(t *testing.T) {
	o := newTestOrigin(t)
	h, err := New(nil, Config{Origins: []string{o.URL}, HeaderTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		code      tftp.ErrorCode // when wantErr
		wantErr   bool
		sizeKnown bool
	}{
		{path: "/obj", sizeKnown: true},
		{path: "/chunked", sizeKnown: false},
		{path: "/missing", wantErr: true, code: tftp.CodeNotFound},
		{path: "/secret", wantErr: true, code: tftp.CodeAccessViolation},
		{path: "/broken", wantErr: true, code: tftp.CodeUndefined},
		{path: "/slow", wantErr: true, code: tftp.CodeUndefined},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			data, err := h.ServeTFTP(context.Background(), newRequest(o.URL+tt.path))
			if tt.wantErr {
				if err == nil {
					data.Close()
					t.Fatal("no error")
				}
				code, msg := tftp.WireError(err)
				if code != tt.code {
					t.Fatalf("code %d (%s), want %d", code, msg, tt.code)
				}
				if strings.Contains(msg, "500") || strings.Contains(msg, "127.0.0.1") {
					t.Fatalf("wire message leaks details: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			size, known := data.Size()
			if known != tt.sizeKnown || (known && size != int64(len(o.body))) {
				t.Fatalf("Size() = %d, %v", size, known)
			}
			if b := readAll(t, data); !bytes.Equal(b, o.body) {
				t.Fatalf("got %d bytes, want %d", len(b), len(o.body))
			}
		})
	}
}

func TestRefusedOriginIsNeverContacted(t *testing.T) {
	o := newTestOrigin(t)
	other := newTestOrigin(t)
	h, err := New(nil, Config{Origins: []string{o.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{
		other.URL + "/obj", // another port
		strings.Replace(o.URL, "127.0.0.1", "localhost", 1) + "/obj", // another host name
		"http://user@" + strings.TrimPrefix(other.URL, "http://") + "/obj",
		"ftp://127.0.0.1/obj",
	} {
		_, err := h.ServeTFTP(context.Background(), newRequest(route))
		if code, _ := tftp.WireError(err); code != tftp.CodeAccessViolation && !strings.HasPrefix(route, "ftp") {
			t.Errorf("%s: code %d (%v), want 2", route, code, err)
		}
	}
	if n := other.hits.Load() + o.hits.Load(); n != 0 {
		t.Fatalf("%d requests reached an origin", n)
	}
}

func TestAllowedNetworks(t *testing.T) {
	o := newTestOrigin(t)
	// 192.0.2.0/24 is TEST-NET-1: the dialer must refuse it before any
	// packet leaves (the test never sends traffic off loopback).
	h, err := New(nil, Config{
		Origins:  []string{o.URL, "http://192.0.2.1:9"},
		Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.ServeTFTP(context.Background(), newRequest("http://192.0.2.1:9/obj"))
	if code, _ := tftp.WireError(err); code != tftp.CodeUndefined || !strings.Contains(err.Error(), "outside the allowed networks") {
		t.Fatalf("route off the allowed networks: %v", err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest(o.URL+"/obj"))
	if err != nil {
		t.Fatalf("loopback origin: %v", err)
	}
	readAll(t, data)
}

func TestOriginPrefixFallback(t *testing.T) {
	o := newTestOrigin(t)
	h, err := New(localFiles{"/local": "here"}, Config{Origin: o.URL + "/tftp"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest("/local"))
	if err != nil || string(readAll(t, data)) != "here" || o.hits.Load() != 0 {
		t.Fatalf("local file: err %v, origin hits %d", err, o.hits.Load())
	}
	data, err = h.ServeTFTP(context.Background(), newRequest("/boot/a b%c/vmlinuz"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, data)
	if got, want := o.last.Load(), "/tftp/boot/a%20b%25c/vmlinuz"; got != want {
		t.Fatalf("origin asked for %q, want %q", got, want)
	}
	if _, err := h.ServeTFTP(context.Background(), newRequest("boot/../x")); !errors.Is(err, tftp.ErrAccessViolation) {
		t.Fatalf(".. : %v", err)
	}
	// Without a next handler, names go to the prefix directly.
	h2, err := New(nil, Config{Origin: o.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	data, err = h2.ServeTFTP(context.Background(), newRequest("obj"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, data)
	if got := o.last.Load(); got != "/obj" {
		t.Fatalf("origin asked for %q", got)
	}
}

func TestReceiveTFTP(t *testing.T) {
	h, err := New(localFiles{}, Config{Origins: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"http://127.0.0.1:1/x", "/local"} {
		r := newRequest(p)
		r.Op = tftp.OpWRQ
		if _, err := h.ReceiveTFTP(context.Background(), r); !errors.Is(err, tftp.ErrAccessViolation) {
			t.Errorf("%s: %v, want access violation", p, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []Config{
		{Origin: "ftp://h/"},
		{Origin: "http:///x"},
		{Origins: []string{"::"}},
		{CacheDir: "/proc/self/nonexistent/cache"},
	} {
		if _, err := New(nil, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestEnvRoundTrip(t *testing.T) {
	in := Config{
		Origin:          "http://127.0.0.1:8080/tftp/",
		Origins:         []string{"http://a", "https://b:8443"},
		Networks:        []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		CacheDir:        "/var/cache/fbtftp",
		CacheMaxBytes:   1 << 30,
		CacheMaxEntries: 500,
		CacheMaxAge:     time.Minute,
		ConnectTimeout:  2 * time.Second,
		HeaderTimeout:   3 * time.Second,
		IdleTimeout:     4 * time.Second,
		MaxSize:         5 << 20,
		ClientHeaders:   true,
		FillTimeout:     90 * time.Second,
	}
	env := map[string]string{}
	for _, kv := range in.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	out, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !equalConfig(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
	if n := len((Config{}).Environ()); n != 0 {
		t.Fatalf("zero Config gives %d variables", n)
	}
	for _, bad := range []map[string]string{
		{EnvIdleTimeout: "soon"},
		{EnvCacheMaxBytes: "-1"},
		{EnvNetworks: "10.0.0.0/33"},
		{EnvCacheEntries: "-3"},
		{EnvCacheEntries: "99999999999"},
		{EnvFillTimeout: "-1s"},
	} {
		if _, err := ConfigFromEnv(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func equalConfig(a, b Config) bool {
	if a.Origin != b.Origin || strings.Join(a.Origins, " ") != strings.Join(b.Origins, " ") ||
		len(a.Networks) != len(b.Networks) || a.CacheDir != b.CacheDir ||
		a.CacheMaxBytes != b.CacheMaxBytes || a.CacheMaxAge != b.CacheMaxAge ||
		a.ConnectTimeout != b.ConnectTimeout || a.HeaderTimeout != b.HeaderTimeout ||
		a.IdleTimeout != b.IdleTimeout || a.MaxSize != b.MaxSize || a.ClientHeaders != b.ClientHeaders ||
		a.CacheMaxEntries != b.CacheMaxEntries || a.FillTimeout != b.FillTimeout {
		return false
	}
	for i := range a.Networks {
		if a.Networks[i] != b.Networks[i] {
			return false
		}
	}
	return true
}

func TestFromEnvAllowsMapOrigins(t *testing.T) {
	o := newTestOrigin(t)
	rules, err := remap.Parse(strings.NewReader("r ^/?boot/(.*) " + o.URL + "/\\1\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := FromEnv(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Allow(rules.URLPrefixes()...); err != nil {
		t.Fatal(err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest(o.URL+"/obj"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, data)
}

func TestCacheServesRepeatsWithOneFetch(t *testing.T) {
	o := newTestOrigin(t)
	h, err := New(nil, Config{Origins: []string{o.URL}, CacheDir: filepath.Join(t.TempDir(), "cache"), CacheMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		data, err := h.ServeTFTP(context.Background(), newRequest(o.URL+"/obj"))
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, data); !bytes.Equal(b, o.body) {
			t.Fatal("wrong content")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if n := o.hits.Load(); n != 1 {
		t.Fatalf("%d origin requests, want 1", n)
	}
}

// TestDrainFillTimeout: a fill that outlives its session (the client only
// probed the size) is stopped by Drain after FillTimeout, counted, and
// leaves no file; the worker does not wait for the origin.
func TestDrainFillTimeout(t *testing.T) {
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		for range 2000 { // a trickle: never idle, never done
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
	cache := filepath.Join(t.TempDir(), "cache")
	h, err := New(nil, Config{Origins: []string{o.URL}, CacheDir: cache, FillTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest(o.URL+"/initrd"))
	if err != nil {
		t.Fatal(err)
	}
	data.Close() // a size probe
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = h.Drain(ctx)
	if !errors.Is(err, ErrFillTimeout) || !strings.Contains(err.Error(), "stopped 1 cache fill") {
		t.Fatalf("Drain = %v, want the fill time limit", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Drain took %v", d)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("%d files left in the cache", len(ents))
	}
	if c := h.CacheCounters(); c.AbortedTimeout != 1 || c.FillsStarted != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestResolverFiles(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("# comment\n127.0.0.1 localhost Origin.Test\n::1 localhost ip6-localhost\nbogus line\n"), 0o644)
	m := readHosts(hosts)
	if got := m["origin.test"]; len(got) != 1 || got[0] != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("origin.test: %v", got)
	}
	if got := m["localhost"]; len(got) != 2 {
		t.Fatalf("localhost: %v", got)
	}
	rc := filepath.Join(dir, "resolv.conf")
	os.WriteFile(rc, []byte("search example\nnameserver 192.0.2.53\nnameserver 2001:db8::53 ; x\nnameserver nope\n"), 0o644)
	if got := readNameservers(rc); strings.Join(got, " ") != "192.0.2.53:53 [2001:db8::53]:53" {
		t.Fatalf("nameservers: %q", got)
	}
	if len(readHosts(filepath.Join(dir, "missing"))) != 0 {
		t.Fatal("missing file has entries")
	}
}

func TestResolverUsesHostsEntries(t *testing.T) {
	o := newTestOrigin(t)
	// A name only the hosts table read at New knows (as in a chroot
	// without /etc): it is dialled without asking DNS.
	res := &resolver{d: &net.Dialer{Timeout: time.Second}, r: net.DefaultResolver,
		hosts: map[string][]netip.Addr{"origin.test": {netip.MustParseAddr("127.0.0.1")}}}
	port := o.URL[strings.LastIndexByte(o.URL, ':')+1:]
	c, err := res.dial(context.Background(), "tcp", "origin.test:"+port)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestClientHeaders(t *testing.T) {
	var got http.Header
	o := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Write([]byte("x"))
	}))
	defer o.Close()
	for _, on := range []bool{false, true} {
		h, err := New(nil, Config{Origins: []string{o.URL}, ClientHeaders: on})
		if err != nil {
			t.Fatal(err)
		}
		r := newRequest(o.URL + "/x")
		r.Filename = "pxelinux.cfg/01 x\n"
		r.Peer = netip.MustParseAddrPort("192.0.2.7:1234")
		r.Local = netip.MustParseAddrPort("192.0.2.1:40000")
		r.MAC = net.HardwareAddr{0x52, 0x54, 0, 0xec, 0x33, 0x81}
		data, err := h.ServeTFTP(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, data)
		want := map[string]string{
			"X-Tftp-Client-Ip":  "192.0.2.7",
			"X-Tftp-Client-Mac": "52:54:00:ec:33:81",
			"X-Tftp-Server-Ip":  "192.0.2.1",
			"X-Tftp-Filename":   "pxelinux.cfg%2F01%20x%0A",
		}
		for k, v := range want {
			if g := got.Get(k); (on && g != v) || (!on && g != "") {
				t.Errorf("ClientHeaders %v: %s = %q, want %q", on, k, g, v)
			}
		}
		if got.Get("Accept-Encoding") != "identity" {
			t.Errorf("Accept-Encoding %q", got.Get("Accept-Encoding"))
		}
	}
}

func TestHTTPSRoots(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tls")) }))
	defer ts.Close()
	dir := t.TempDir()
	good, junk := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "junk.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	os.WriteFile(junk, []byte("not a certificate\n"), 0o600)

	t.Setenv("SSL_CERT_DIR", "") // the bundle alone (some environments set a directory)
	t.Setenv("SSL_CERT_FILE", junk)
	if _, err := New(nil, Config{Origin: ts.URL + "/"}); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Fatalf("junk bundle: %v", err)
	}
	// http origins never load the bundle.
	if _, err := New(nil, Config{Origin: "http://127.0.0.1:1/"}); err != nil {
		t.Fatalf("http origin with a junk bundle: %v", err)
	}
	t.Setenv("SSL_CERT_FILE", good)
	h, err := New(nil, Config{Origin: ts.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, data); string(b) != "tls" {
		t.Fatalf("got %q", b)
	}
}

func TestIPv6AndQueryOrigins(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	var last string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = r.URL.RequestURI()
		w.Write([]byte("v6"))
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	// A prefix with a query (a signed URL) keeps it; the map-style origin
	// spelling with brackets and a port matches the URL's.
	h, err := New(nil, Config{Origin: srv.URL + "/tftp/?token=abc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Allow("HTTP://[::1]:" + srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]); err != nil {
		t.Fatal(err)
	}
	data, err := h.ServeTFTP(context.Background(), newRequest("boot/x"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, data)
	if last != "/tftp/boot/x?token=abc" {
		t.Fatalf("origin asked for %q", last)
	}
	data, err = h.ServeTFTP(context.Background(), newRequest(srv.URL+"/direct"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, data)
}
