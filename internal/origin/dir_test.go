package origin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCacheOpenDir checks that the cache uses its directory through the
// descriptor OpenDir opened: the directory is renamed away (as a chroot
// would hide its path), and a fetch, a hit and an eviction still happen
// in it.
func TestCacheOpenDir(t *testing.T) {
	const size = 20_000
	v := &versioned{}
	v.set("/a", payload(size), `"a"`)
	v.set("/b", payload(size), `"b"`)
	parent := t.TempDir()
	dir := filepath.Join(parent, "cache")
	o, c := newCached(t, v, &Cache{Dir: dir, MaxAge: time.Hour, MaxBytes: size + size/2})
	for range 2 {
		if err := c.Cache.OpenDir(); err != nil {
			t.Fatal(err)
		}
	}
	moved := filepath.Join(parent, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}

	a := o.URL + "/a"
	if got, _ := fetch(t, c, a); !bytes.Equal(got, payload(size)) {
		t.Fatal("fetch: wrong content")
	}
	got, body := fetch(t, c, a)
	if !bytes.Equal(got, payload(size)) {
		t.Fatal("hit: wrong content")
	}
	if _, ok := body.(*File); !ok {
		t.Errorf("hit served as %T, want *File", body)
	}
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("%d origin requests, want 1", n)
	}
	ka := keyOf(a)
	want := []string{ka + ".data", ka + ".meta"} // lock files only while in use
	if names := list(t, moved); !slices.Equal(names, want) {
		t.Errorf("renamed directory holds %q, want %q", names, want)
	}

	// b evicts a: the eviction reads and cleans the renamed directory.
	fetch(t, c, o.URL+"/b")
	kb := keyOf(o.URL + "/b")
	want = []string{kb + ".data", kb + ".meta"}
	if names := list(t, moved); !slices.Equal(names, want) {
		t.Errorf("after eviction, the renamed directory holds %q, want %q", names, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old path: %v, want it missing", err)
	}
}

// list returns the sorted names in dir.
func list(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestCacheOpenDirCreates checks that OpenDir creates a missing directory,
// mode 0700, and that nothing opens it once the Cache is closed.
func TestCacheOpenDirCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "cache")
	ca := &Cache{Dir: dir}
	if err := ca.OpenDir(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want a directory 0700", fi.Mode())
	}
	for range 2 {
		if err := ca.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ca.OpenDir(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("OpenDir after Close: %v, want ErrClosed", err)
	}
	if err := (&Cache{}).OpenDir(); err == nil {
		t.Error("OpenDir without Dir succeeded")
	}
}
