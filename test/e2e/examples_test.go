package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// examples/httpbacked and examples/grub under the real master.

// fakeOrigin is an HTTP origin on loopback serving fixed objects (with
// Content-Length; 404 for anything else) and counting requests per path.
type fakeOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newFakeOrigin(t *testing.T, objects map[string][]byte) *fakeOrigin {
	t.Helper()
	o := &fakeOrigin{hits: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path]++
		o.mu.Unlock()
		b, ok := objects[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}))
	t.Cleanup(o.Close)
	return o
}

// requests returns the number of requests for path, or for every path
// when path is empty.
func (o *fakeOrigin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if path != "" {
		return o.hits[path]
	}
	n := 0
	for _, c := range o.hits {
		n += c
	}
	return n
}

// httpBackedObjects is the origin's content under /tftp/.
func httpBackedObjects() map[string][]byte {
	return map[string][]byte{
		"/tftp/images/vmlinuz":                       pattern("vmlinuz", 300_000),
		"/tftp/pxelinux.cfg/default":                 []byte("DEFAULT local\n"),
		"/tftp/hosts/52-54-00-ec-33-81/pxelinux.cfg": []byte("DEFAULT web\n"),
	}
}

// TestHTTPBackedExample: an empty root; files come from the origin given
// with the master's --http-origin, through the example's routing rules.
func TestHTTPBackedExample(t *testing.T) {
	objects := httpBackedObjects()
	origin := newFakeOrigin(t, objects)
	s := startServer(t, worldReadableDir(t), "127.0.0.1:0",
		"--worker", filepath.Join(bin, "httpbacked"), "--http-origin", origin.URL+"/tftp/")

	// An object streamed from the origin: tsize is its Content-Length.
	kernel := objects["/tftp/images/vmlinuz"]
	for _, name := range []string{"images/vmlinuz", "/images/vmlinuz"} {
		got, res, err := get(t, s.addr, name, client.Options{Tsize: true, Blksize: 1468})
		if err != nil || !bytes.Equal(got, kernel) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(kernel))
		} else if res.Tsize != int64(len(kernel)) {
			t.Errorf("%s: tsize %d, want the Content-Length %d", name, res.Tsize, len(kernel))
		}
	}

	// The routing rules: PXELINUX's per-machine name is fetched from the
	// machine's object; other allowed names as they are.
	for name, want := range map[string]string{
		"pxelinux.cfg/01-52-54-00-ec-33-81": "DEFAULT web\n",
		"pxelinux.cfg/default":              "DEFAULT local\n",
	} {
		got, _, err := get(t, s.addr, name, client.Options{Tsize: true})
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if n := origin.requests("/tftp/hosts/52-54-00-ec-33-81/pxelinux.cfg"); n != 1 {
		t.Errorf("origin got %d requests for the machine's object, want 1", n)
	}

	// The origin's 404 is ERROR 1, for a routed name too.
	for _, name := range []string{"images/missing.img", "pxelinux.cfg/01-52-54-00-00-00-99", "pxelinux.cfg/C0A80001"} {
		_, _, err := get(t, s.addr, name, client.Options{})
		wantServerError(t, name, err, proto.ErrNotFound)
	}
	if n := origin.requests("/tftp/hosts/52-54-00-00-00-99/pxelinux.cfg"); n != 1 {
		t.Errorf("origin got %d requests for the unknown machine's object, want 1", n)
	}

	// Names outside the prefixes are refused before any connection.
	before := origin.requests("")
	for _, name := range []string{"etc/passwd", "hosts/52-54-00-ec-33-81/pxelinux.cfg", "http://127.0.0.1/x"} {
		_, _, err := get(t, s.addr, name, client.Options{})
		wantServerError(t, name, err, proto.ErrAccessViolation)
	}
	if n := origin.requests(""); n != before {
		t.Errorf("refused names reached the origin: %d requests, want %d", n, before)
	}

	// 2 + 2 downloads, 3 not found, 3 refused.
	ss := s.waitSessions(10)
	outcomes := map[string]int{}
	for _, m := range ss {
		outcomes[m["outcome"].(string)]++
	}
	if outcomes["success"] != 4 || outcomes["not_found"] != 3 || outcomes["access_denied"] != 3 {
		t.Errorf("outcomes %v, want 4 success, 3 not_found, 3 access_denied", outcomes)
	}
}

// TestHTTPBackedExampleCache: the master's --http-cache reaches the
// example too; the second download is served from the cache.
func TestHTTPBackedExampleCache(t *testing.T) {
	objects := httpBackedObjects()
	origin := newFakeOrigin(t, objects)
	cache := filepath.Join(t.TempDir(), "cache") // outside the root; the master creates it
	s := startServer(t, worldReadableDir(t), "127.0.0.1:0",
		"--worker", filepath.Join(bin, "httpbacked"), "--http-origin", origin.URL+"/tftp/",
		"--http-cache", cache, "--http-cache-max-age", "1h")

	kernel := objects["/tftp/images/vmlinuz"]
	for i := range 2 {
		got, res, err := get(t, s.addr, "images/vmlinuz", client.Options{Tsize: true, Blksize: 1468})
		if err != nil || !bytes.Equal(got, kernel) || res.Tsize != int64(len(kernel)) {
			t.Fatalf("download %d: %d bytes (tsize %d), %v; want %d bytes", i+1, len(got), res.Tsize, err, len(kernel))
		}
	}
	if n := origin.requests("/tftp/images/vmlinuz"); n != 1 {
		t.Errorf("origin got %d requests for the object, want 1 (the second from the cache)", n)
	}
	s.waitSessions(2)
}

// grubInventory is the examples/grub inventory of TestGrubExample.
const grubInventory = `{
  "default": {"hostname": "unknown", "kernel": "/images/vmlinuz", "initrd": "/images/initrd.img", "cmdline": "rescue"},
  "hosts": {
    "127.0.0.2": {"hostname": "web-1", "cmdline": "role=web"},
    "127.0.0.3": {"hostname": "db-1", "kernel": "/images/vmlinuz-lts", "cmdline": "role=db"},
    "52:54:00:EC:33:81": {"hostname": "gpu-1", "cmdline": "role=gpu"}
  }
}`

// grubConfig is what examples/grub generates.
func grubConfig(host, how, client, kernel, cmdline string) string {
	return "# generated by fbtftp-go examples/grub for " + host + " (" + how + "), client " + client + "\n" +
		"set default=0\nset timeout=5\n" +
		"menuentry '" + host + "' {\n" +
		"\tlinux " + kernel + " hostname=" + host + " " + cmdline + "\n" +
		"\tinitrd /images/initrd.img\n" +
		"}\n"
}

// TestGrubExample: per-machine GRUB configurations generated from an
// inventory the master's environment names, by client address and by the
// MAC or IP in GRUB's per-machine names; other files from the root.
func TestGrubExample(t *testing.T) {
	root := worldReadableDir(t)
	writeFiles(t, root, map[string]int{"images/vmlinuz": 70_000})
	inv := filepath.Join(t.TempDir(), "inventory.json") // outside the root: read before the chroot
	if err := os.WriteFile(inv, []byte(grubInventory), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRUB_INVENTORY", inv) // the master's environment, which workers inherit
	s := startServer(t, root, "127.0.0.1:0", "--worker", filepath.Join(bin, "grub"))
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), s.addr.Port())

	// grub.cfg, from three clients: two known by address, one unknown.
	for _, tt := range []struct{ from, want string }{
		{"127.0.0.2", grubConfig("web-1", "ip 127.0.0.2", "127.0.0.2", "/images/vmlinuz", "role=web")},
		{"127.0.0.3", grubConfig("db-1", "ip 127.0.0.3", "127.0.0.3", "/images/vmlinuz-lts", "role=db")},
		{"127.0.0.4", grubConfig("unknown", "default", "127.0.0.4", "/images/vmlinuz", "rescue")},
	} {
		local := netip.AddrPortFrom(netip.MustParseAddr(tt.from), 0)
		got, res, err := get(t, to, "boot/grub/grub.cfg", client.Options{Tsize: true, LocalAddr: local})
		if err != nil || string(got) != tt.want {
			t.Errorf("grub.cfg from %s: %q, %v; want %q", tt.from, got, err, tt.want)
			continue
		}
		if !res.OACK || res.Tsize != int64(len(tt.want)) {
			t.Errorf("grub.cfg from %s: OACK %v, tsize %d; want tsize %d", tt.from, res.OACK, res.Tsize, len(tt.want))
		}
	}

	// GRUB's per-machine names: answered for known machines, ERROR 1
	// otherwise so that GRUB tries the next name.
	for name, want := range map[string]string{
		"boot/grub/grub.cfg-01-52-54-00-ec-33-81": grubConfig("gpu-1", "mac 52:54:00:ec:33:81", "127.0.0.1", "/images/vmlinuz", "role=gpu"),
		"/boot/grub/grub.cfg-7F000002":            grubConfig("web-1", "ip 127.0.0.2", "127.0.0.1", "/images/vmlinuz", "role=web"),
	} {
		got, res, err := get(t, s.addr, name, client.Options{Tsize: true})
		if err != nil || string(got) != want || res.Tsize != int64(len(want)) {
			t.Errorf("%s: %q (tsize %d), %v; want %q", name, got, res.Tsize, err, want)
		}
	}
	for _, name := range []string{
		"boot/grub/grub.cfg-01-52-54-00-00-00-99",                 // unknown MAC
		"boot/grub/grub.cfg-7F000004",                             // unknown IP
		"boot/grub/grub.cfg-7F00000",                              // a subnet prefix
		"boot/grub/grub.cfg-7726a678-7fc0-4853-a4f6-c85ac36a120a", // a DHCP client UUID
		"images/initrd.img",                                       // not in the root
	} {
		_, _, err := get(t, s.addr, name, client.Options{})
		wantServerError(t, name, err, proto.ErrNotFound)
	}

	// Everything else is a file of the root.
	want := pattern("images/vmlinuz", 70_000)
	got, res, err := get(t, s.addr, "images/vmlinuz", client.Options{Tsize: true, Blksize: 1468})
	if err != nil || !bytes.Equal(got, want) || res.Tsize != int64(len(want)) {
		t.Errorf("images/vmlinuz: %d bytes (tsize %d), %v; want %d bytes", len(got), res.Tsize, err, len(want))
	}
	s.waitSessions(11)
}

// TestGrubExampleBadInventory: an inventory the worker cannot use fails
// every session cleanly: the client gets ERROR 0 and the log says why.
func TestGrubExampleBadInventory(t *testing.T) {
	inv := filepath.Join(t.TempDir(), "inventory.json")
	if err := os.WriteFile(inv, []byte(`{"default": {"kernel": "/k"}, "hosts": {"rack-7": {"hostname": "x"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRUB_INVENTORY", inv)
	s := startServer(t, worldReadableDir(t), "127.0.0.1:0", "--worker", filepath.Join(bin, "grub"))
	_, _, err := get(t, s.addr, "grub.cfg", client.Options{})
	wantServerError(t, "grub.cfg", err, proto.ErrUndefined)
	eventually(t, 10*time.Second, "the worker's error in the log", func() bool {
		// The worker's standard error is the master's: a plain line.
		return strings.Contains(s.log(), `host key "rack-7" is neither an IP nor a MAC address`)
	})
}
