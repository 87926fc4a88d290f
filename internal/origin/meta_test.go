package origin

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

func TestDecodeMeta(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"url":"http://h/x","size":3,"validated":1}`, true},
		{`{"url":"http://h/x","etag":"\"e\"","last_modified":"x","size":0,"validated":0}`, true},
		{`{"url":"http://h/x","size":-1}`, false},
		{`{"size":3}`, false},
		{`{"url":"http://h/x","size":3,"extra":1}`, false},
		{`{"url":"http://h/x","size":3} {}`, false},
		{`{"url":"http://h/x","size":"3"}`, false},
		{`[]`, false},
		{``, false},
		{`{"url":"` + strings.Repeat("a", maxMetaSize) + `","size":1}`, false},
	}
	for _, tt := range tests {
		_, err := decodeMeta([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("decodeMeta(%.40q) error = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"url":"http://h/x","etag":"e","size":3,"validated":1}`))
	f.Add([]byte(`{"url":"","size":-1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		if m.URL == "" || m.Size < 0 {
			t.Fatalf("accepted %+v", m)
		}
		// What is accepted survives a write and a read.
		root, err := os.OpenRoot(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		e := entry{root: root, key: "k"}
		if err := e.writeMeta(m); err != nil {
			t.Fatal(err)
		}
		if err := root.WriteFile(e.data(), make([]byte, min(m.Size, 1<<20)), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := e.read(m.URL); ok != (m.Size <= 1<<20) || ok && got != m {
			t.Fatalf("read back %+v, %v; want %+v", got, ok, m)
		}
	})
}

// TestCacheDamagedEntries checks that whatever a crash or another program
// leaves in the directory reads as a miss and is cleaned up.
func TestCacheDamagedEntries(t *testing.T) {
	v := &versioned{}
	data := payload(1000)
	v.set("/f", data, `"f"`)
	damage := []struct {
		name string
		do   func(e entry)
	}{
		{"no meta", func(e entry) { e.root.Remove(e.meta()) }},
		{"bad meta", func(e entry) { e.root.WriteFile(e.meta(), []byte("{"), 0o600) }},
		{"other url", func(e entry) { e.writeMeta(meta{URL: "http://other/", Size: 1000}) }},
		{"short data", func(e entry) { os.Truncate(filepath.Join(e.root.Name(), e.data()), 10) }},
		{"no data", func(e entry) { e.root.Remove(e.data()) }},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			o, c := newCached(t, v, &Cache{})
			url := o.URL + "/f"
			fetch(t, c, url)
			e := entryOf(t, c, url)
			d.do(e)
			leftover := []string{e.key + ".123.part", e.key + ".9.mtmp"}
			for _, p := range leftover {
				e.root.WriteFile(p, []byte("junk"), 0o600)
			}
			full := v.full.Load()
			if got, _ := fetch(t, c, url); !bytes.Equal(got, data) {
				t.Fatal("wrong content")
			}
			if v.full.Load() != full+1 {
				t.Error("damaged entry not fetched again")
			}
			for _, p := range leftover {
				if _, err := e.root.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}

func TestCacheMaxSize(t *testing.T) {
	v := &versioned{}
	v.set("/f", payload(5000), `"f"`)
	o, c := newCached(t, v, &Cache{})
	c.MaxSize = 1000
	for _, chunked := range []bool{false, true} {
		v.setStatus(0, chunked)
		body, err := c.Open(t.Context(), o.URL+"/f")
		if err == nil {
			_, err = readAllErr(body)
		}
		if err == nil || !strings.Contains(err.Error(), "size limit") {
			t.Fatalf("chunked %v: err = %v", chunked, err)
		}
		if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
			t.Errorf("wire %d %q", code, msg)
		}
		c.Wait(t.Context())
	}
}

func readAllErr(c Content) ([]byte, error) {
	defer c.Close()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(c)
	return buf.Bytes(), err
}

// TestFillReaderAfterEnd checks the late joiner: a flight's fill that has
// ended and closed its file hands out the published entry instead.
func TestFillReaderAfterEnd(t *testing.T) {
	v := &versioned{}
	data := payload(2000)
	v.set("/f", data, `"f"`)
	o, c := newCached(t, v, &Cache{})
	body, err := c.Open(t.Context(), o.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	fl := body.(*fillReader).fl
	readAll(t, body)
	c.Wait(t.Context())
	late, err := fl.reader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := late.(*File); !ok {
		t.Fatalf("late reader is %T, want *File", late)
	}
	if got := readAll(t, late); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
	// Not published (evicted, or too large): the Open starts over.
	fl.published = false
	if _, err := fl.reader(t.Context()); err != errGone {
		t.Errorf("err = %v, want errGone", err)
	}
	fl.e.root.Remove(fl.e.data())
	if _, err := openEntry(fl.e, 2000); err == nil {
		t.Error("opened a removed entry")
	}
}

// TestCacheUnwritableDir checks that a cache that cannot be used fails
// with ERROR 0 and does not contact the origin.
func TestCacheUnwritableDir(t *testing.T) {
	v := &versioned{}
	v.set("/f", payload(10), `"f"`)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	o, c := newCached(t, v, &Cache{Dir: filepath.Join(file, "cache")})
	_, err := c.Open(t.Context(), o.URL+"/f")
	if code, _ := wire(t, err); code != proto.ErrUndefined {
		t.Errorf("code %d", code)
	}
	if o.requests.Load() != 0 {
		t.Error("origin contacted")
	}
}

func TestClientDefaults(t *testing.T) {
	var c Client
	if c.connectTimeout() != DefaultConnectTimeout || c.headerTimeout() != DefaultHeaderTimeout || c.idleTimeout() != DefaultIdleTimeout {
		t.Error("defaults not applied")
	}
	if (&Cache{}).maxBytes() != DefaultCacheMaxBytes {
		t.Error("cache default not applied")
	}
	if c.Wait(context.Background()) != nil {
		t.Error("Wait without a cache failed")
	}
	hc := &http.Client{}
	c.HTTP = hc
	if c.httpClient() != hc {
		t.Error("Client.HTTP not used")
	}
}

// TestCacheShortFill checks that a fill that ends (unpublished) before its
// leader starts reading still serves the leader, without a second fetch.
func TestCacheShortFill(t *testing.T) {
	v := &versioned{chunked: true}
	data := payload(5000)
	v.set("/f", data, `"f"`)
	o, c := newCached(t, v, &Cache{MaxBytes: 1000})
	c.Cache.afterLead = func() { c.Cache.fills.Wait() }
	body, err := c.Open(t.Context(), o.URL+"/f")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, body); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
