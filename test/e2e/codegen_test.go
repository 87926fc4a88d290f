package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	fbserver "github.com/fbtftp-go/fbtftp/server"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// examples/codegen and examples/codegen/minimal, the workers of
// docs/custom-worker.md, under the real master.

// wantServerError checks that err is the server's ERROR code.
func wantServerError(t *testing.T, what string, err error, code proto.ErrorCode) {
	t.Helper()
	var se *tftp.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Errorf("%s: %v, want ERROR %d", what, err, code)
	}
}

// bootScript is what ipxe/boot.ipxe holds for a client on 127.0.0.1.
func bootScript(kernelURL string) string {
	return "#!ipxe\necho fbtftp-go: booting 127.0.0.1\nchain " + kernelURL + "?ip=127.0.0.1&mac=${net0/mac}\n"
}

func TestCodegenExample(t *testing.T) {
	s := startServer(t, worldReadableDir(t), "127.0.0.1:0", "--worker", filepath.Join(bin, "codegen"))

	// Content built in memory: its size is known, tsize is acknowledged.
	for name, want := range map[string]string{
		"hello.txt":       "Hello 127.0.0.1, this is 127.0.0.1.\n",
		"/hello.txt":      "Hello 127.0.0.1, this is 127.0.0.1.\n",
		"ipxe/boot.ipxe":  bootScript("http://boot.example/linux/vmlinuz"),
		"/ipxe/boot.ipxe": bootScript("http://boot.example/linux/vmlinuz"),
	} {
		got, res, err := get(t, s.addr, name, client.Options{Tsize: true, Blksize: 1468})
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
			continue
		}
		if !res.OACK || res.Tsize != int64(len(want)) {
			t.Errorf("%s: OACK %v tsize %d, want tsize %d", name, res.OACK, res.Tsize, len(want))
		}
	}

	// fbtftp-master --set reaches the handler as Request.Extra.
	s2 := startServer(t, worldReadableDir(t), "127.0.0.1:0", "--worker", filepath.Join(bin, "codegen"),
		"--set", "kernel-url=https://k.example/v?arch=x86_64", "--set", "unused=1")
	if got, _, err := get(t, s2.addr, "ipxe/boot.ipxe", client.Options{}); err != nil ||
		!strings.Contains(string(got), "chain https://k.example/v?arch=x86_64&ip=127.0.0.1") {
		t.Errorf("--set kernel-url: %q, %v", got, err)
	}

	// Streamed content of unknown size: tsize is not acknowledged; the
	// blksize still is, and with tsize alone there is no OACK at all.
	for _, o := range []client.Options{{Tsize: true, Blksize: 1468}, {Tsize: true}, {Mode: proto.ModeNetascii, Tsize: true}} {
		got, res, err := get(t, s.addr, "uptime.txt", o)
		if err != nil || !strings.HasPrefix(string(got), "up ") || !strings.Contains(string(got), "\nload average ") {
			t.Errorf("uptime.txt %+v: %q, %v", o, got, err)
			continue
		}
		if res.Tsize != -1 || res.OACK != (o.Blksize > 0) {
			t.Errorf("uptime.txt %+v: OACK %v %v, tsize %d; want no tsize", o, res.OACK, res.Options, res.Tsize)
		}
	}

	// Uploads are counted and discarded; a WRQ elsewhere is ERROR 1.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := bytes.Repeat([]byte("0123456789"), 300)
	if _, err := client.Put(ctx, s.addr, "upload/x", client.Options{Tsize: true, Timeout: 500 * time.Millisecond}, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Errorf("upload/x: %v", err)
	}
	_, err := client.Put(ctx, s.addr, "hello.txt", client.Options{Timeout: 500 * time.Millisecond}, bytes.NewReader(data), -1)
	wantServerError(t, "WRQ hello.txt", err, proto.ErrNotFound)

	for _, name := range []string{"missing", "upload/x", "ipxe", "hello.txt/x"} {
		_, _, err := get(t, s.addr, name, client.Options{})
		wantServerError(t, name, err, proto.ErrNotFound)
	}

	// 4 + 3 downloads, 2 uploads, 4 refusals.
	ss := s.waitSessions(13)
	outcomes := map[string]int{}
	for _, m := range ss {
		outcomes[m["outcome"].(string)]++
	}
	if outcomes["success"] != 8 || outcomes["not_found"] != 5 {
		t.Errorf("outcomes %v, want 8 success and 5 not_found", outcomes)
	}
	// The worker's own log line, in the master's stream: what it received.
	found := false
	for _, m := range s.find("") {
		if m["msg"] == "upload discarded" {
			found = m["name"] == "x" && m["bytes"] == float64(len(data))
		}
	}
	if !found {
		t.Errorf("no \"upload discarded\" line with name x and %d bytes:\n%s", len(data), tail(s.log(), 4000))
	}
}

// TestCodegenExtra runs the example under server.Server, the master as a
// library, whose Settings.Extra reaches Request.Extra.
func TestCodegenExtra(t *testing.T) {
	sessions := make(chan *tftp.SessionStats, 10)
	ready := make(chan netip.AddrPort, 1)
	srv := &fbserver.Server{
		Addrs:      []string{"127.0.0.1:0"},
		Root:       worldReadableDir(t),
		WorkerPath: filepath.Join(bin, "codegen"),
		Settings: fbtftp.Settings{Extra: map[string]string{
			"kernel-url": "https://boot.test.example/k/vmlinuz-6.12",
		}},
		SessionStats: func(st *tftp.SessionStats) { sessions <- st },
		Listening:    func(addrs []string) { ready <- netip.MustParseAddrPort(addrs[0]) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	var addr netip.AddrPort
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}

	want := bootScript("https://boot.test.example/k/vmlinuz-6.12")
	got, res, err := get(t, addr, "ipxe/boot.ipxe", client.Options{Tsize: true})
	if err != nil || string(got) != want || res.Tsize != int64(len(want)) {
		t.Fatalf("ipxe/boot.ipxe: %q (tsize %d), %v; want %q", got, res.Tsize, err, want)
	}
	st := <-sessions
	if st.Outcome != "success" || st.Filename != "ipxe/boot.ipxe" || st.Bytes != uint64(len(want)) {
		t.Errorf("session stats: outcome %v, file %q, %d bytes", st.Outcome, st.Filename, st.Bytes)
	}
}

// TestMinimalWorker runs the first worker of docs/custom-worker.md.
func TestMinimalWorker(t *testing.T) {
	s := startServer(t, worldReadableDir(t), "127.0.0.1:0", "--worker", filepath.Join(bin, "minimal"))
	got, _, err := get(t, s.addr, "hello", client.Options{})
	if err != nil || string(got) != "hello 127.0.0.1\n" {
		t.Errorf("hello: %q, %v", got, err)
	}
	_, _, err = get(t, s.addr, "other", client.Options{})
	wantServerError(t, "other", err, proto.ErrNotFound)
}
