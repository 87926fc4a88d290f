package origin

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/stats"
)

// TestTakeStatsDirect: requests with their latencies and failures by
// class, without a cache; TakeStats resets.
func TestTakeStatsDirect(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write(payload(1000))
		case "/gone":
			http.NotFound(w, r)
		case "/broken":
			http.Error(w, "x", http.StatusBadGateway)
		case "/short":
			w.Header().Set("Content-Length", "1000")
			w.Write(payload(10))
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(1<<20))
			w.Write(payload(1 << 10))
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
	})
	c := &Client{HeaderTimeout: 200 * time.Millisecond, MaxSize: 1 << 16}
	open := func(path string) {
		body, err := c.Open(t.Context(), o.URL+path)
		if err == nil {
			for {
				if _, err := body.Read(make([]byte, 512)); err != nil {
					break
				}
			}
			body.Close()
		}
	}
	for _, p := range []string{"/ok", "/ok", "/gone", "/broken", "/short", "/big", "/slow"} {
		open(p)
	}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String() + "/x"
	l.Close()
	c.Open(t.Context(), dead)

	s := c.TakeStats()
	if s.Requests != 8 || len(s.Latencies) != 6 {
		t.Errorf("requests %d, latencies %d; want 8 and 6 (all but the timeout and the refused connection)", s.Requests, len(s.Latencies))
	}
	want := [stats.NumOriginErrors]uint64{}
	want[stats.OriginConnect] = 1
	want[stats.OriginTimeout] = 1
	want[stats.OriginStatus4xx] = 1
	want[stats.OriginStatus5xx] = 1
	want[stats.OriginBody] = 1
	want[stats.OriginTooLarge] = 1
	if s.Errors != want {
		t.Errorf("errors %v, want %v (%v)", s.Errors, want, stats.OriginErrorLabels)
	}
	if again := c.TakeStats(); !again.IsZero() {
		t.Errorf("not reset: %+v", again)
	}
}

// TestTakeStatsCache: fills published, an aborted fill, evictions.
func TestTakeStatsCache(t *testing.T) {
	v := &versioned{}
	const size = 10_000
	for _, p := range []string{"/a", "/b", "/c"} {
		v.set(p, payload(size), `"`+p+`"`)
	}
	o, c := newCached(t, v, &Cache{MaxBytes: 2*size + size/2})
	fetch(t, c, o.URL+"/a")
	fetch(t, c, o.URL+"/b")
	fetch(t, c, o.URL+"/c") // evicts a
	fetch(t, c, o.URL+"/c") // revalidated: 304, no fill
	s := c.TakeStats()
	if s.Requests != 4 || s.Fills != 3 || s.Evictions != 1 || s.EvictedBytes != size || s.AbortedFills != 0 {
		t.Errorf("%+v: want 4 requests, 3 fills, 1 eviction of %d bytes", s, size)
	}

	// A fill whose body stops short of its Content-Length.
	short := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		w.Write(payload(100))
	})
	body, err := c.Open(t.Context(), short.URL+"/s")
	if err == nil {
		drain(body)
		body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Wait(ctx)
	s = c.TakeStats()
	if s.AbortedFills != 1 || s.Errors[stats.OriginBody] == 0 || s.Fills != 0 {
		t.Errorf("%+v: want 1 aborted fill with a body error", s)
	}
}

func drain(c Content) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
