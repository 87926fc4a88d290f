package origin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// twoProcesses returns two Clients with their own Cache on one directory:
// their locks conflict exactly as two worker processes' do (flock is per
// open file description).
func twoProcesses(t *testing.T, h http.Handler) (*origin, *Client, *Client) {
	t.Helper()
	o, a := newCached(t, h, &Cache{})
	b := &Client{Cache: &Cache{Dir: a.Cache.Dir}, IdleTimeout: 5 * time.Second}
	t.Cleanup(func() { b.Cache.Close() })
	return o, a, b
}

// TestFollowAnotherProcess: while one process fills an entry, an Open in
// another returns at once and reads the bytes already fetched, then the
// rest as they come: one origin request, no wait for the whole object.
func TestFollowAnotherProcess(t *testing.T) {
	data := payload(300_000)
	half := len(data) / 2
	release := make(chan struct{})
	o, a, b := twoProcesses(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:half])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		w.Write(data[half:])
	}))
	ctx := context.Background()
	ca, err := a.Open(ctx, o.URL+"/obj")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	opened := make(chan Content, 1)
	go func() {
		cb, err := b.Open(ctx, o.URL+"/obj")
		if err != nil {
			t.Error(err)
		}
		opened <- cb
	}()
	var cb Content
	select {
	case cb = <-opened:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the second process waited for the whole object")
	}
	if cb == nil {
		close(release)
		t.FailNow()
	}
	defer cb.Close()
	if _, ok := cb.(*followReader); !ok {
		t.Errorf("second process got %T, want a followReader", cb)
	}
	if size, ok := cb.Size(); !ok || size != int64(len(data)) {
		t.Errorf("Size() = %d, %v", size, ok)
	}
	first := make([]byte, half)
	if _, err := io.ReadFull(cb, first); err != nil || string(first) != string(data[:half]) {
		t.Fatalf("first half before the origin sent the rest: %v", err)
	}
	close(release)
	rest, err := io.ReadAll(cb)
	if err != nil || string(rest) != string(data[half:]) {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
	io.Copy(io.Discard, ca)
	if n := o.requests.Load(); n != 1 {
		t.Fatalf("%d origin requests, want 1", n)
	}
}

// TestFollowFailedFill: when the leader's fill fails (the origin drops the
// connection), the follower's read of the missing bytes fails promptly
// instead of waiting, and nothing is published.
func TestFollowFailedFill(t *testing.T) {
	data := payload(200_000)
	half := len(data) / 2
	release := make(chan struct{})
	o, a, b := twoProcesses(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:half])
		w.(http.Flusher).Flush()
		<-release
		// Return without the rest: a short body.
	}))
	ctx := context.Background()
	ca, err := a.Open(ctx, o.URL+"/obj")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := b.Open(ctx, o.URL+"/obj")
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	first := make([]byte, half)
	if _, err := io.ReadFull(cb, first); err != nil {
		t.Fatal(err)
	}
	close(release)
	start := time.Now()
	_, err = io.ReadAll(cb)
	if code, _ := wire(t, err); code != 0 || errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("follower after a failed fill: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the failure took %v to show", d)
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a.Wait(ctx2)
	if _, ok := entryOf(t, a, o.URL+"/obj").read(o.URL + "/obj"); ok {
		t.Fatal("a short body was published")
	}
}

func TestValidPart(t *testing.T) {
	e := entry{key: "abc"}
	for name, want := range map[string]bool{
		"abc.123.part":     true,
		"abc..part":        false, // no random part
		"abd.1.part":       false, // another entry
		"abc.1.data":       false,
		"abc.../../x.part": false,
		"abc.1/x.part":     false,
	} {
		if got := validPart(e, name); got != want {
			t.Errorf("validPart(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzFollowMarker: whatever another process left in <key>.fill, follow
// never panics and only ever opens one of the entry's own .part files.
func FuzzFollowMarker(f *testing.F) {
	f.Add([]byte(`{"url":"http://h/x","part":"k.1.part","size":10}`))
	f.Add([]byte(`{"url":"http://h/x","part":"../etc/passwd","size":10}`))
	f.Add([]byte(`{"url":"http://h/x","part":"k.1.part","size":-1}`))
	dir := f.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	root.WriteFile("k.1.part", []byte("0123456789"), 0o600)
	e := entry{root: root, key: "k"}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := root.WriteFile(e.marker(), b, 0o600); err != nil {
			t.Fatal(err)
		}
		fd, _, size, ok := e.follow("http://h/x")
		if !ok {
			return
		}
		defer fd.Close()
		if filepath.Base(fd.Name()) != "k.1.part" || size < 0 {
			t.Fatalf("followed %q, size %d", fd.Name(), size)
		}
	})
}
