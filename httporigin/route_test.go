package httporigin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/fbtftp-go/fbtftp/internal/remap"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// recordingOrigin answers 200 "ok" to everything and records each request
// URI and whether it carried credentials.
type recordingOrigin struct {
	*httptest.Server
	mu    sync.Mutex
	uris  []string
	creds int
}

func newRecordingOrigin(t *testing.T) *recordingOrigin {
	t.Helper()
	o := &recordingOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.uris = append(o.uris, r.RequestURI)
		if r.Header.Get("Authorization") != "" {
			o.creds++
		}
		o.mu.Unlock()
		w.Write([]byte("ok"))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *recordingOrigin) seen() ([]string, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.uris...), o.creds
}

// serveName runs a client's name through the map rules, as the worker
// does, then through h.
func serveName(h *Handler, rules *remap.Rules, name string) error {
	r := clientRequest(name)
	if rules != nil {
		res := rules.Apply(remap.Request{Filename: name, Client: netip.MustParseAddr("127.0.0.1")})
		r.Path = res.Filename
	}
	data, err := h.ServeTFTP(context.Background(), r)
	if err == nil {
		data.Close()
	}
	return err
}

// TestClientNameIsNeverAURL: with only --http-origin .../tftp/, a client
// that sends a URL as its file name must not reach any other path of the
// origin, nor make the worker send credentials (the audit's finding).
func TestClientNameIsNeverAURL(t *testing.T) {
	o := newRecordingOrigin(t)
	h, err := New(nil, Config{Origin: o.URL + "/tftp/"})
	if err != nil {
		t.Fatal(err)
	}
	hostport := strings.TrimPrefix(o.URL, "http://")
	for _, name := range []string{
		"http://admin:pw@" + hostport + "/admin/users?delete=1",
		"http://" + hostport + "/admin",
		"HTTPS://" + hostport + "/admin",
		"/http://" + hostport + "/admin",
		"../admin",
		"a/../../admin",
		"%2e%2e/admin",
		"x?delete=1",
		"x#frag",
	} {
		serveName(h, nil, name)
	}
	uris, creds := o.seen()
	if creds != 0 {
		t.Errorf("%d requests carried credentials", creds)
	}
	for _, u := range uris {
		if !strings.HasPrefix(u, "/tftp/") || strings.Contains(u, "?") || strings.Contains(u, "/../") {
			t.Errorf("the origin was asked for %q, outside /tftp/", u)
		}
	}
	if len(uris) == 0 {
		t.Fatal("no request reached the origin: the names should have been fetched under /tftp/")
	}
}

// TestRouteBypasses: a map rule's \1 must not carry a client outside the
// prefix the rule spells out, whatever the encoding.
func TestRouteBypasses(t *testing.T) {
	o := newRecordingOrigin(t)
	rulesText := "r ^/?boot/(.*) " + o.URL + "/boot/\\1\n" +
		"r ^/?q/(.*) " + o.URL + "/get?file=\\1\n" +
		"r ^/?pass/(.*) \\1\n" // passes a client's URL through: routes only under the prefixes above
	rules, err := remap.Parse(strings.NewReader(rulesText))
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
	hostport := strings.TrimPrefix(o.URL, "http://")
	refused := []string{
		"boot/../admin",
		"boot/../../admin",
		"boot/%2e%2e/admin",
		"boot/%2E%2e/admin",
		"boot/.%2e/admin",
		"boot/..%2fadmin",
		"boot/x%2f..%2f..%2fadmin",
		"boot/x%5c..%5cadmin",
		"boot/x\\..\\admin",
		"boot/./x",
		"boot/x?delete=1",
		"boot/x#frag",
		"boot/x y",
		"q/x&admin=1",
		"q/x%26admin=1",
		"q/x;admin=1",
		"q/../../etc/passwd",
		"pass/http://admin:pw@" + hostport + "/admin",
		"pass/http://" + hostport + "/admin",
		"pass/http://" + hostport + "/boot/../admin",
		"pass/http://" + hostport + "/get?file=x&admin=1",
	}
	for _, name := range refused {
		err := serveName(h, rules, name)
		if code, _ := tftp.WireError(err); code != tftp.CodeAccessViolation {
			t.Errorf("%q: code %d (%v), want 2", name, code, err)
		}
	}
	if uris, _ := o.seen(); len(uris) != 0 {
		t.Fatalf("refused routes reached the origin: %q", uris)
	}
	allowed := map[string]string{
		"boot/vmlinuz":                                "/boot/vmlinuz",
		"/boot/a/b.img":                               "/boot/a/b.img",
		"q/initrd.img":                                "/get?file=initrd.img",
		"pass/http://" + hostport + "/boot/x":         "/boot/x",
		"pass/http://" + hostport + "/get?file=y.bin": "/get?file=y.bin",
	}
	for name := range allowed {
		if err := serveName(h, rules, name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	uris, creds := o.seen()
	if len(uris) != len(allowed) || creds != 0 {
		t.Fatalf("origin saw %q (%d with credentials), want the %d allowed routes", uris, creds, len(allowed))
	}
	for _, want := range allowed {
		found := false
		for _, u := range uris {
			found = found || u == want
		}
		if !found {
			t.Errorf("origin never saw %q (saw %q)", want, uris)
		}
	}
}

func TestCheckRoute(t *testing.T) {
	mk := func(ss ...string) []prefix {
		var ps []prefix
		for _, s := range ss {
			p, err := parsePrefix(s)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	tests := []struct {
		route    string
		prefixes []prefix
		ok       bool
	}{
		{"http://h/boot/x", mk("http://h/boot/"), true},
		{"http://H:80/boot/x", mk("http://h/boot/"), true},
		{"http://h/other/x", mk("http://h/boot/"), false},
		{"http://h:8080/boot/x", mk("http://h/boot/"), false},
		{"https://h/boot/x", mk("http://h/boot/"), false},
		{"http://h/anything", mk("http://h"), true},
		{"http://u:p@h/x", mk("http://h"), false},
		{"http://u:p@h/x", mk("http://u:p@h/"), true},
		{"http://v:p@h/x", mk("http://u:p@h/"), false},
		{"http://h/x", mk("http://u:p@h/"), false},
		{"http://h/a/%2E%2E/x", mk("http://h"), false},
		{"http://h/a/%2e/x", mk("http://h"), false},
		{"http://h/a%2fb", mk("http://h"), false},
		{"http://h/x?y", mk("http://h"), false},
		{"http://h/x?", mk("http://h"), false},
		{"http://h/get?f=a", mk("http://h/get?f="), true},
		{"http://h/get?f=a&b=c", mk("http://h/get?f="), false},
		{"http://h/get?f=a%3bb", mk("http://h/get?f="), false},
		{"http://h/get?f=..%2fx", mk("http://h/get?f="), false},
		{"http://h/get2?f=a", mk("http://h/get?f="), false},
		{"http://h/get?g=a", mk("http://h/get?f="), false},
		{"http://h/x\x00", mk("http://h"), false},
		{"ftp://h/x", mk("http://h"), false},
		{"http:/x", mk("http://h"), false},
		{"http://[::1]:8080/b/x", mk("http://[::1]:8080/b/"), true},
	}
	for _, tt := range tests {
		_, err := checkRoute(tt.route, tt.prefixes)
		if (err == nil) != tt.ok {
			t.Errorf("checkRoute(%q): %v, want ok=%v", tt.route, err, tt.ok)
		}
	}
}

// FuzzCheckRoute: whatever a client contributes after a prefix, an accepted
// route stays on the prefix's origin, under its path, with no dot segment.
func FuzzCheckRoute(f *testing.F) {
	for _, s := range []string{"x", "../a", "%2e%2e/a", "a?b", "a&b", "@evil/", ":99/x", "a/./b"} {
		f.Add(s)
	}
	ps := []prefix{}
	for _, s := range []string{"http://h:8080/boot/", "http://h:8080/get?f="} {
		p, err := parsePrefix(s)
		if err != nil {
			f.Fatal(err)
		}
		ps = append(ps, p)
	}
	f.Fuzz(func(t *testing.T, tail string) {
		for _, base := range []string{"http://h:8080/boot/", "http://h:8080/get?f="} {
			u, err := checkRoute(base+tail, ps)
			if err != nil {
				continue
			}
			if originKey(u) != "http://h:8080" || u.User != nil {
				t.Fatalf("%q left the origin: %v", base+tail, u)
			}
			p := u.EscapedPath()
			if p != "/get" && !strings.HasPrefix(p, "/boot/") {
				t.Fatalf("%q left the prefix: %q", base+tail, p)
			}
			for _, seg := range strings.Split(u.Path, "/") {
				if seg == ".." || seg == "." {
					t.Fatalf("%q: dot segment in %q", base+tail, u.Path)
				}
			}
			if p == "/get" && strings.Contains(u.RawQuery, "&") {
				t.Fatalf("%q: new query parameter in %q", base+tail, u.RawQuery)
			}
		}
	})
}
