package testenv_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/test/testenv"
)

const runTimeout = 20 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), runTimeout)
	t.Cleanup(cancel)
	return c
}

// testFiles are the download/upload payloads: empty, one byte, exactly one
// 512-byte block (the transfer ends with an empty DATA), and ~300 KiB that
// is not a multiple of any tested blksize.
func testFiles() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 300*1024+123)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	return map[string][]byte{
		"empty": {},
		"one":   {0x42},
		"block": big[:512],
		"big":   big,
	}
}

func sortedNames(m map[string][]byte) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var families = []struct {
	name string
	ip   netip.Addr
}{
	{"ipv4", netip.MustParseAddr("127.0.0.1")},
	{"ipv6", netip.MustParseAddr("::1")},
}

// config is a set of options; Host, File and data are filled in per run.
type config struct {
	name                string
	blksize, windowsize int
	tsize, noOptions    bool
}

var configs = []config{
	{name: "default"},
	{name: "nooptions", noOptions: true},
	{name: "blksize512+tsize", blksize: 512, tsize: true},
	{name: "blksize1468+tsize", blksize: 1468, tsize: true},
	{name: "blksize65464+tsize", blksize: 65464, tsize: true},
	{name: "blksize1468+windowsize4", blksize: 1468, windowsize: 4},
}

// unsupported is the capability table of the package documentation: which
// configs each client wrapper must refuse with ErrUnsupported.
func unsupported(client string, c config, netascii bool) bool {
	switch client {
	case "curl":
		return c.windowsize != 0
	case "tftp-hpa":
		return c.blksize != 0 || c.tsize || c.windowsize != 0
	case "atftp":
		return false
	case "busybox":
		return netascii || c.noOptions || c.windowsize != 0
	}
	panic(client)
}

// String names an option set like the configs do.
func (c config) String() string {
	var parts []string
	if c.noOptions {
		parts = append(parts, "nooptions")
	}
	if c.blksize != 0 {
		parts = append(parts, fmt.Sprintf("blksize%d", c.blksize))
	}
	if c.tsize {
		parts = append(parts, "tsize")
	}
	if c.windowsize != 0 {
		parts = append(parts, fmt.Sprintf("windowsize%d", c.windowsize))
	}
	return cmp.Or(strings.Join(parts, "+"), "default")
}

func (c config) download(host netip.AddrPort, file, mode string) testenv.Download {
	return testenv.Download{Host: host, File: file, Blksize: c.blksize, Tsize: c.tsize, Windowsize: c.windowsize, Mode: mode, NoOptions: c.noOptions}
}

func (c config) upload(host netip.AddrPort, file, mode string, data []byte) testenv.Upload {
	return testenv.Upload{Host: host, File: file, Data: data, Blksize: c.blksize, Tsize: c.tsize, Windowsize: c.windowsize, Mode: mode, NoOptions: c.noOptions}
}

func TestInTftpdVersion(t *testing.T) {
	out, err := testenv.InTftpdCommand(ctx(t), t, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("in.tftpd -V: %v: %s", err, out)
	}
	if !bytes.HasPrefix(out, []byte("tftp-hpa 5.2")) {
		t.Errorf("in.tftpd -V = %q, want tftp-hpa 5.2", out)
	}
}

func TestDownload(t *testing.T) {
	files := testFiles()
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.Root(t, files)
			host := testenv.StartInTftpdOn(t, fam.ip, "-s", root)
			for _, client := range testenv.Clients() {
				for _, c := range configs {
					t.Run(client.Name+"/"+c.name, func(t *testing.T) {
						t.Parallel()
						if unsupported(client.Name, c, false) {
							_, err := client.Download(ctx(t), t, c.download(host, "one", ""))
							if !errors.Is(err, testenv.ErrUnsupported) {
								t.Fatalf("got %v, want ErrUnsupported", err)
							}
							return
						}
						for _, name := range sortedNames(files) {
							got, err := client.Download(ctx(t), t, c.download(host, name, ""))
							if client.Name == "curl" && !c.noOptions && len(files[name]) == 0 {
								// curl rejects the OACK's "tsize 0" (exit 71).
								if err == nil || !strings.Contains(err.Error(), "invalid tsize") {
									t.Errorf("%s: got %v, want curl's invalid tsize failure", name, err)
								}
								continue
							}
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if !bytes.Equal(got, files[name]) {
								t.Errorf("%s: got %d bytes, want %d (content differs)", name, len(got), len(files[name]))
							}
						}
					})
				}
			}
		})
	}
}

func TestUpload(t *testing.T) {
	files := testFiles()
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.Root(t, nil)
			host := testenv.StartInTftpdOn(t, fam.ip, "-c", "-s", root)
			for _, client := range testenv.Clients() {
				for _, c := range configs {
					t.Run(client.Name+"/"+c.name, func(t *testing.T) {
						t.Parallel()
						if unsupported(client.Name, c, false) {
							err := client.Upload(ctx(t), t, c.upload(host, "unsupported", "", nil))
							if !errors.Is(err, testenv.ErrUnsupported) {
								t.Fatalf("got %v, want ErrUnsupported", err)
							}
							return
						}
						for _, name := range sortedNames(files) {
							remote := fmt.Sprintf("%s-%s-%s", client.Name, c.name, name)
							got, err := upload(t, client, c.upload(host, remote, "", files[name]), root, files[name])
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if !bytes.Equal(got, files[name]) {
								t.Errorf("%s: server stored %d bytes, want %d (content differs)", name, len(got), len(files[name]))
							}
						}
					})
				}
			}
		})
	}
}

// upload runs client.Upload and returns what in.tftpd stored under root.
//
// in.tftpd 5.2 has a race that loaded machines hit: a client that
// retransmits its WRQ before the OACK arrives (busybox does after 100 ms)
// leaves a duplicate WRQ in the listening socket; if in.tftpd forks for it
// after the first transfer has finished and released its file lock, the new
// child ftruncate()s the finished upload to 0 bytes while the client reports
// success. upload recognises that (an empty file where data was sent) and
// retries under a new name, at most three times in all.
func upload(t *testing.T, client testenv.Client, u testenv.Upload, root string, want []byte) ([]byte, error) {
	t.Helper()
	const attempts = 3
	name := u.File
	var got []byte
	for attempt := 1; attempt <= attempts; attempt++ {
		if err := client.Upload(ctx(t), t, u); err != nil {
			return nil, err
		}
		var err error
		if got, err = os.ReadFile(filepath.Join(root, u.File)); err != nil {
			return nil, err
		}
		if len(got) > 0 || len(want) == 0 {
			break
		}
		t.Logf("attempt %d: in.tftpd stored an empty %s (duplicate WRQ truncated it?)", attempt, u.File)
		u.File = fmt.Sprintf("%s.retry%d", name, attempt)
	}
	return got, nil
}

// netasciiText has bare LF, CR LF, bare CR, NUL, and (in the long part) a
// CR LF across every 512-byte block boundary at some point.
func netasciiText() []byte {
	var b bytes.Buffer
	b.WriteString("line1\nline2\r\nline3\rend\x00z\n")
	for i := 0; i < 700; i++ {
		fmt.Fprintf(&b, "%d\r\n%s\n", i, strings.Repeat("x", i%7))
	}
	b.WriteString("no newline at end\r")
	return b.Bytes()
}

// toNetascii is the RFC 764 encoding in.tftpd puts on the wire:
// LF -> CR LF, CR -> CR NUL.
func toNetascii(p []byte) []byte {
	var b bytes.Buffer
	for _, c := range p {
		switch c {
		case '\n':
			b.WriteString("\r\n")
		case '\r':
			b.WriteString("\r\x00")
		default:
			b.WriteByte(c)
		}
	}
	return b.Bytes()
}

func TestNetascii(t *testing.T) {
	text := netasciiText()
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			t.Parallel()
			root := testenv.Root(t, map[string][]byte{"text": text})
			host := testenv.StartInTftpdOn(t, fam.ip, "-c", "-s", root)
			for _, client := range testenv.Clients() {
				for _, c := range []config{{name: "nooptions", noOptions: true}, {name: "blksize1468", blksize: 1468}} {
					t.Run(client.Name+"/"+c.name, func(t *testing.T) {
						t.Parallel()
						if client.Name == "curl" && !c.noOptions {
							// curl always adds tsize, which in.tftpd 5.2 refuses
							// in netascii mode (ERROR 8, curl exit 42).
							_, err := client.Download(ctx(t), t, c.download(host, "text", "netascii"))
							if err == nil || errors.Is(err, testenv.ErrUnsupported) {
								t.Fatalf("curl netascii with tsize: got %v, want in.tftpd's refusal", err)
							}
							return
						}
						bad := unsupported(client.Name, c, true)
						got, err := client.Download(ctx(t), t, c.download(host, "text", "netascii"))
						if bad {
							if !errors.Is(err, testenv.ErrUnsupported) {
								t.Fatalf("download: got %v, want ErrUnsupported", err)
							}
						} else {
							if err != nil {
								t.Fatalf("download: %v", err)
							}
							want := text
							if client.Name == "curl" {
								want = toNetascii(text) // curl keeps the wire form
							}
							if !bytes.Equal(got, want) {
								t.Errorf("download: got %q..., want %q...", head(got), head(want))
							}
						}

						remote := "up-" + client.Name + "-" + c.name
						data := text
						if client.Name == "curl" {
							data = toNetascii(text) // curl sends the file as is
						}
						stored, err := upload(t, client, c.upload(host, remote, "netascii", data), root, text)
						if bad {
							if !errors.Is(err, testenv.ErrUnsupported) {
								t.Fatalf("upload: got %v, want ErrUnsupported", err)
							}
							return
						}
						if err != nil {
							t.Fatalf("upload: %v", err)
						}
						if !bytes.Equal(stored, text) {
							t.Errorf("upload: server stored %q..., want %q...", head(stored), head(text))
						}
					})
				}
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

// TestErrors checks that every wrapper turns a server ERROR into an error,
// including tftp-hpa (exits 0) and interactive atftp (exits 0).
func TestErrors(t *testing.T) {
	root := testenv.Root(t, map[string][]byte{"text": []byte("x\n")})
	host := testenv.StartInTftpd(t, "-s", root) // no -c: uploads of new files fail
	for _, client := range testenv.Clients() {
		for _, mode := range []string{"octet", "netascii"} {
			t.Run(client.Name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				d := testenv.Download{Host: host, File: "does-not-exist", Mode: mode, NoOptions: client.Name != "busybox"}
				got, err := client.Download(ctx(t), t, d)
				if errors.Is(err, testenv.ErrUnsupported) {
					t.Skip(err)
				}
				if err == nil {
					t.Fatalf("download of a missing file: got %d bytes and no error", len(got))
				}
				t.Logf("download error: %v", err)
				u := testenv.Upload{Host: host, File: "new-file", Data: []byte("data\n"), Mode: mode, NoOptions: d.NoOptions}
				if err := client.Upload(ctx(t), t, u); err == nil {
					t.Fatal("upload of a new file without -c: no error")
				}
			})
		}
	}
}

// request is a captured RRQ or WRQ.
type request struct {
	op, file, mode string
	options        []string // "name=value" in wire order
}

// captureRequest runs the client (on the test goroutine, so that the
// wrappers may skip) against a fake server that records the first read or
// write request, answers it with ERROR 0, and returns it.
func captureRequest(t *testing.T, run func(host netip.AddrPort)) request {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // also ends the server goroutine if run skips the test
	host := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	got := make(chan []byte, 1)
	go func() {
		defer close(got)
		conn.SetReadDeadline(time.Now().Add(runTimeout))
		buf := make([]byte, 70000)
		for i := 0; i < 10; i++ { // skip strays; bounded
			n, peer, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if p := buf[:n]; n >= 2 && p[0] == 0 && (p[1] == 1 || p[1] == 2) {
				conn.WriteToUDPAddrPort([]byte("\x00\x05\x00\x00testenv capture\x00"), peer)
				got <- bytes.Clone(p)
				return
			}
		}
	}()
	run(host) // the client fails on the ERROR; that is expected
	var p []byte
	select {
	case p = <-got:
	case <-time.After(runTimeout):
	}
	if p == nil {
		t.Fatal("no request captured")
	}
	fields := strings.Split(string(p[2:]), "\x00")
	if len(fields) < 3 || fields[len(fields)-1] != "" {
		t.Fatalf("malformed request %q", p)
	}
	r := request{op: map[byte]string{1: "RRQ", 2: "WRQ"}[p[1]], file: fields[0], mode: fields[1]}
	opts := fields[2 : len(fields)-1]
	for j := 0; j+1 < len(opts); j += 2 {
		r.options = append(r.options, opts[j]+"="+opts[j+1])
	}
	return r
}

// TestRequestOptions pins down what each wrapper puts on the wire (the
// option table in the package documentation).
func TestRequestOptions(t *testing.T) {
	clients := map[string]testenv.Client{}
	for _, c := range testenv.Clients() {
		clients[c.Name] = c
	}
	data := []byte("abc")
	tests := []struct {
		client string
		upload bool
		c      config
		mode   string
		want   request
	}{
		{"curl", false, config{}, "", request{"RRQ", "f", "octet", []string{"tsize=0", "blksize=512", "timeout=6"}}},
		{"curl", false, config{noOptions: true}, "", request{"RRQ", "f", "octet", nil}},
		{"curl", false, config{blksize: 1468, tsize: true}, "", request{"RRQ", "f", "octet", []string{"tsize=0", "blksize=1468", "timeout=6"}}},
		{"curl", false, config{noOptions: true}, "netascii", request{"RRQ", "f", "netascii", nil}},
		{"curl", true, config{}, "", request{"WRQ", "f", "octet", []string{"tsize=3", "blksize=512", "timeout=6"}}},
		{"tftp-hpa", false, config{}, "", request{"RRQ", "f", "octet", nil}},
		{"tftp-hpa", false, config{}, "netascii", request{"RRQ", "f", "netascii", nil}},
		{"tftp-hpa", true, config{}, "", request{"WRQ", "f", "octet", nil}},
		{"atftp", false, config{}, "", request{"RRQ", "f", "octet", nil}},
		{"atftp", false, config{blksize: 1468, tsize: true, windowsize: 4}, "", request{"RRQ", "f", "octet", []string{"tsize=0", "blksize=1468", "windowsize=4"}}},
		{"atftp", false, config{blksize: 1468}, "netascii", request{"RRQ", "f", "netascii", []string{"blksize=1468"}}},
		{"atftp", true, config{tsize: true}, "", request{"WRQ", "f", "octet", []string{"tsize=3"}}},
		{"busybox", false, config{}, "", request{"RRQ", "f", "octet", []string{"tsize=0"}}},
		{"busybox", false, config{blksize: 512}, "", request{"RRQ", "f", "octet", []string{"tsize=0"}}},
		{"busybox", false, config{blksize: 1468}, "", request{"RRQ", "f", "octet", []string{"blksize=1468", "tsize=0"}}},
		{"busybox", true, config{}, "", request{"WRQ", "f", "octet", []string{"tsize=3"}}},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%s/%s/%s/%s", tc.client, tc.want.op, tc.c.String(), cmp.Or(tc.mode, "octet"))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			client := clients[tc.client]
			got := captureRequest(t, func(host netip.AddrPort) {
				if tc.upload {
					client.Upload(ctx(t), t, tc.c.upload(host, "f", tc.mode, data))
				} else {
					client.Download(ctx(t), t, tc.c.download(host, "f", tc.mode))
				}
			})
			if got.op != tc.want.op || got.file != tc.want.file || got.mode != tc.want.mode || !slices.Equal(got.options, tc.want.options) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRootWithoutSecure checks that Root's directory is reachable by user
// nobody when in.tftpd serves it by absolute path (no -s).
func TestRootWithoutSecure(t *testing.T) {
	root := testenv.Root(t, map[string][]byte{"sub/file": []byte("hello\n")})
	host := testenv.StartInTftpd(t, root)
	got, err := testenv.Atftp(ctx(t), t, testenv.Download{Host: host, File: filepath.Join(root, "sub", "file")})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\n" {
		t.Errorf("got %q", got)
	}
}
