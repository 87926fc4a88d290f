package origin

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestStorable(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{}, true},
		{http.Header{"Cache-Control": {"max-age=60, public"}}, true},
		{http.Header{"Cache-Control": {"no-cache"}}, true}, // stored; revalidated unless Cache.MaxAge says otherwise
		{http.Header{"Cache-Control": {"No-Store"}}, false},
		{http.Header{"Cache-Control": {"max-age=0", "private"}}, false},
		{http.Header{"Cache-Control": {`private="Set-Cookie", max-age=5`}}, false},
		{http.Header{"Vary": {"Accept-Encoding"}}, true},
		{http.Header{"Vary": {"*"}}, false},
		{http.Header{"Vary": {"accept-encoding, X-TFTP-Client-IP"}}, false},
	} {
		if got := storable(tc.h); got != tc.want {
			t.Errorf("storable(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

// TestPrivateAnswersNotStored: an origin answering per client (here by a
// header the Open sends) marks its answers private; the cache then
// streams each one and never serves one client's answer to another.
func TestPrivateAnswersNotStored(t *testing.T) {
	for _, cc := range []string{"private", "no-store", ""} {
		t.Run("cache-control="+cc, func(t *testing.T) {
			o, c := newCached(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := "for " + r.Header.Get("X-Client")
				if cc != "" {
					w.Header().Set("Cache-Control", cc)
				}
				w.Header().Set("ETag", `"e"`)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.Write([]byte(body))
			}), &Cache{MaxAge: time.Hour})
			got := map[string]string{}
			for _, client := range []string{"a", "b", "a"} {
				ctx := WithHeader(context.Background(), http.Header{"X-Client": {client}})
				cont, err := c.Open(ctx, o.URL+"/cfg")
				if err != nil {
					t.Fatal(err)
				}
				got[client] = string(readAll(t, cont))
			}
			if cc == "" {
				// Storable: the first answer is shared (the origin did not
				// say it depends on the client), one request.
				if got["b"] != "for a" || o.requests.Load() != 1 {
					t.Fatalf("storable: %v, %d requests", got, o.requests.Load())
				}
				return
			}
			if got["a"] != "for a" || got["b"] != "for b" || o.requests.Load() != 3 {
				t.Fatalf("%s: %v, %d requests (want per-client answers, 3 requests)", cc, got, o.requests.Load())
			}
			if _, ok := entryOf(t, c, o.URL+"/cfg").read(o.URL + "/cfg"); ok {
				t.Fatal("a private answer was stored")
			}
		})
	}
}

// FuzzStorable: any Cache-Control and Vary values are judged without
// panicking, and no-store anywhere always wins.
func FuzzStorable(f *testing.F) {
	f.Add("max-age=60, public", "Accept-Encoding")
	f.Add(`private="x", no-cache`, "*")
	f.Fuzz(func(t *testing.T, cc, vary string) {
		h := http.Header{"Cache-Control": {cc}, "Vary": {vary}}
		got := storable(h)
		h.Add("Cache-Control", "no-store")
		if storable(h) {
			t.Fatalf("no-store ignored with %q / %q (was %v)", cc, vary, got)
		}
	})
}
