package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fbtftp-go/fbtftp/internal/live"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func snapshot() *live.Snapshot {
	return &live.Snapshot{
		Time: t0.Add(90 * time.Second),
		Sessions: []live.Session{
			{ID: "b", Peer: "192.0.2.2:2000", File: "pxelinux.0", Op: "rrq", Bytes: 2 << 20, BytesTotal: -1,
				Rate: 4 << 20, Started: t0.Add(60 * time.Second), Age: 30, WorkerPID: 202},
			{ID: "a", Peer: "192.0.2.1:1000", File: "images/debian/initrd.img", Op: "rrq", Bytes: 3 << 20, BytesTotal: 12 << 20,
				Rate: 1 << 20, Retransmits: 3, RTT: 0.0042, Started: t0, Age: 90, WorkerPID: 101},
			{ID: "c", Peer: "[2001:db8::1]:3000", File: "up\x1b[2Jload", Op: "wrq", Bytes: 100, BytesTotal: 100,
				Started: t0.Add(80 * time.Second), Age: 10, WorkerPID: 303},
		},
		LastMinute: live.Recent{Seconds: 60,
			Requests: map[string]uint64{"accepted": 40, "busy": 2, "client_limit": 0, "malformed": 1},
			Outcomes: map[string]uint64{"success": 35, "probe": 2, "timeout": 0}},
	}
}

func TestRender(t *testing.T) {
	pids := func(lines []string) (out []string) {
		for _, l := range lines[4:] {
			out = append(out, strings.Fields(l)[0])
		}
		return out
	}
	for _, c := range []struct {
		name          string
		sort          sortKey
		width, height int
		pids          []string
		want          []string // substrings of the whole frame
		not           []string
	}{
		{name: "age", sort: byAge, pids: []string{"101", "202", "303"},
			want: []string{"3 sessions", "5.0M/s", "sort: age", "last 60s: accepted 40, refused busy 1" /* fixed below */}},
		{name: "rate", sort: byRate, pids: []string{"202", "101", "303"}, want: []string{"sort: rate"}},
		{name: "bars", pids: []string{"101", "202", "303"},
			want: []string{"[##........]  25%", "[    ?     ]", "[##########] 100%", "images/debian/initrd.img", "1m30s", "12M", "1.0M/s", "4.2ms"}},
		{name: "control characters never reach the terminal", pids: []string{"101", "202", "303"},
			want: []string{"up?[2Jload"}, not: []string{"\x1b"}},
		{name: "narrow: the file's end is kept", width: len(header(-1)) + 10, pids: []string{"101", "202", "303"},
			want: []string{"..itrd.img"}},
		{name: "short: the rows that do not fit are counted", height: 6, pids: []string{"101", "..."},
			want: []string{"... 2 more"}},
		{name: "tiny", width: 10, height: 2, want: []string{"fbtftp-top"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := render(snapshot(), view{source: "m:9169", sort: c.sort, width: c.width, height: c.height, delay: time.Second})
			frame := strings.Join(lines, "\n")
			if c.height > 0 && len(lines) > c.height {
				t.Errorf("%d lines, height %d", len(lines), c.height)
			}
			for _, l := range lines {
				if c.width > 0 && utf8.RuneCountInString(l) > c.width {
					t.Errorf("line wider than %d: %q", c.width, l)
				}
			}
			if c.height == 0 || c.height > 4 {
				if got := pids(lines); strings.Join(got, ",") != strings.Join(c.pids, ",") {
					t.Errorf("rows %v, want %v\n%s", got, c.pids, frame)
				}
			}
			for _, w := range c.want {
				if w == "last 60s: accepted 40, refused busy 1" {
					w = "last 60s: accepted 40, refused busy 2 malformed 1 | outcomes probe 2 success 35"
				}
				if !strings.Contains(frame, w) {
					t.Errorf("frame lacks %q:\n%s", w, frame)
				}
			}
			for _, n := range c.not {
				if strings.Contains(frame, n) {
					t.Errorf("frame has %q:\n%s", n, frame)
				}
			}
		})
	}
}

func TestRenderEmptyAndError(t *testing.T) {
	lines := render(&live.Snapshot{LastMinute: live.Recent{Seconds: 12}}, view{source: "m", delay: time.Second})
	if len(lines) != 4 || !strings.Contains(lines[0], "0 sessions") || lines[1] != "last 12s: accepted 0, refused 0 | outcomes none" {
		t.Errorf("%q", lines)
	}
	lines = render(nil, view{source: "m", err: errors.New("connection refused"), delay: time.Second})
	if len(lines) != 4 || lines[1] != "error: connection refused" {
		t.Errorf("%q", lines)
	}
}

func TestFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0", -5: "0", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 10 << 20: "10M", 3 << 30: "3.0G"} {
		if got := human(v); got != want {
			t.Errorf("human(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0s", -1: "0s", 59.9: "59s", 187: "3m07s", 7500: "2h05m", 3*86400 + 4*3600: "3d04h"} {
		if got := age(v); got != want {
			t.Errorf("age(%v) = %q, want %q", v, got, want)
		}
	}
	for _, c := range []struct {
		done  uint64
		total int64
		want  string
	}{{0, 100, "[..........]   0%"}, {50, 100, "[#####.....]  50%"}, {200, 100, "[##########] 100%"}, {0, 0, "[##########] 100%"}} {
		if got := bar(c.done, c.total); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
	for v, want := range map[float64]string{0: "-", 0.0003: "0.3ms", 0.012: "12ms", 1.25: "1.2s"} {
		if got := rtt(v); got != want {
			t.Errorf("rtt(%v) = %q, want %q", v, got, want)
		}
	}
	if got := clipLeft("abcdef", 4); got != "..ef" {
		t.Errorf("clipLeft: %q", got)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args []string
		url  string
		sort sortKey
		err  bool
	}{
		{args: nil, url: "http://127.0.0.1:9169/sessions"},
		{args: []string{"-s", "rate", "[::1]:9100"}, url: "http://[::1]:9100/sessions", sort: byRate},
		{args: []string{"https://m.example/"}, url: "https://m.example/sessions"},
		{args: []string{"http://m:1/prefix/sessions"}, url: "http://m:1/prefix/sessions"},
		{args: []string{"-s", "size"}, err: true},
		{args: []string{"ftp://m"}, err: true},
		{args: []string{"a:1", "b:2"}, err: true},
	} {
		o, err := parse(c.args, &bytes.Buffer{})
		if c.err {
			if err == nil {
				t.Errorf("%q: no error", c.args)
			}
			continue
		}
		if err != nil || o.url != c.url || o.sort != c.sort || o.delay != time.Second {
			t.Errorf("%q: %+v %v", c.args, o, err)
		}
	}
	if o, _ := parse([]string{"-d", "1ms", "-n", "-3"}, &bytes.Buffer{}); o.delay != minDelay || o.n != 0 {
		t.Errorf("bounds: %+v", o)
	}
}

// The poller takes a snapshot, and refuses what is not one: an error
// status, a body that is not JSON, a body beyond maxBody.
func TestPoll(t *testing.T) {
	var body []byte
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sessions" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	defer srv.Close()
	u, _ := sessionsURL(srv.URL)
	p := &poller{url: u, client: srv.Client()}
	body, _ = json.Marshal(snapshot())
	s, err := p.poll(context.Background())
	if err != nil || len(s.Sessions) != 3 || s.Sessions[1].File != "images/debian/initrd.img" {
		t.Fatalf("%+v %v", s, err)
	}
	status = http.StatusServiceUnavailable
	if _, err := p.poll(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503: %v", err)
	}
	status = http.StatusOK
	body = []byte("<html>")
	if _, err := p.poll(context.Background()); err == nil {
		t.Error("not JSON: no error")
	}
	body = append([]byte(`{"sessions":[],"x":"`), bytes.Repeat([]byte("a"), maxBody)...)
	body = append(body, `"}`...)
	if _, err := p.poll(context.Background()); err == nil {
		t.Error("beyond maxBody: no error")
	}
}

// Batch mode prints -n frames, plain, and fails when the last poll did.
func TestBatch(t *testing.T) {
	body, _ := json.Marshal(snapshot())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"-b", "-n", "2", "-d", "200ms", srv.URL}, nil, out, os.Stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(out.Name())
	if n := strings.Count(string(b), "fbtftp-top "); n != 2 || strings.Contains(string(b), "\x1b") || !strings.Contains(string(b), "pxelinux.0") {
		t.Errorf("%d frames:\n%s", n, b)
	}
	srv.Close()
	if code := run(context.Background(), []string{"-b", "-n", "1", srv.URL}, nil, out, os.Stderr); code != 1 {
		t.Errorf("server gone: exit %d, want 1", code)
	}
}

// TestManPage: docs/man/fbtftp-top.1 documents every flag parse defines,
// and no other, and man(1) formats it without a warning.
func TestManPage(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "man", "fbtftp-top.1"))
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	if _, err := parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parse -h: %v", err)
	}
	// The flags parse defines, from its usage output.
	var usage bytes.Buffer
	parse([]string{"-h"}, &usage)
	for _, l := range strings.Split(usage.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(l, "  -") {
			defined = append(defined, strings.TrimPrefix(f[0], "-"))
		}
	}
	if len(defined) < 5 {
		t.Fatalf("flags from the usage: %v\n%s", defined, usage.String())
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.TP\n\\fB\\-([a-z]+)\\fR`).FindAllStringSubmatch(string(page), -1) {
		documented[m[1]] = true
	}
	for _, f := range defined {
		if !documented[f] {
			t.Errorf("-%s is not in docs/man/fbtftp-top.1 OPTIONS", f)
		}
		delete(documented, f)
	}
	for f := range documented {
		t.Errorf("docs/man/fbtftp-top.1 documents -%s, which fbtftp-top does not have", f)
	}
	man, err := exec.LookPath("man")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("man(1) is missing")
		}
		t.Skip("man(1) is missing (apt install man-db)")
	}
	cmd := exec.Command(man, "--warnings", "-l", filepath.Join("..", "..", "docs", "man", "fbtftp-top.1"))
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 || stdout.Len() < 1000 {
		t.Errorf("man --warnings -l fbtftp-top.1: %v, %d bytes\n%s", err, stdout.Len(), stderr.String())
	}
}
