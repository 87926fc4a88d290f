package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// request is what the worker would hand the handler for name.
func request(op tftp.Opcode, name string, extra map[string]string) *fbtftp.Request {
	return &fbtftp.Request{
		SessionID: "test-1",
		Op:        op,
		Filename:  name,
		Path:      name,
		Mode:      "octet",
		Peer:      netip.MustParseAddrPort("192.0.2.7:40000"),
		Local:     netip.MustParseAddrPort("192.0.2.1:50000"),
		Extra:     extra,
		Settings:  &fbtftp.Settings{},
		Logger:    slog.New(slog.DiscardHandler),
	}
}

// download runs ServeTFTP and reads the whole response.
func download(t *testing.T, name string, extra map[string]string) (string, int64, error) {
	t.Helper()
	data, err := handler{}.ServeTFTP(context.Background(), request(tftp.OpRRQ, name, extra))
	if err != nil {
		return "", 0, err
	}
	defer data.Close()
	b, err := io.ReadAll(data)
	if err != nil {
		t.Fatal(err)
	}
	size, ok := data.Size()
	if !ok {
		size = -1
	}
	return string(b), size, nil
}

func TestServe(t *testing.T) {
	script := func(url string) string {
		return "#!ipxe\necho fbtftp-go: booting 192.0.2.7\nchain " + url + "\n"
	}
	tests := []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"hello.txt", nil, "Hello 192.0.2.7, this is 192.0.2.1.\n"},
		{"/hello.txt", nil, "Hello 192.0.2.7, this is 192.0.2.1.\n"},
		{"ipxe/boot.ipxe", nil, script("http://boot.example/linux/vmlinuz?ip=192.0.2.7&mac=${net0/mac}")},
		{"ipxe/boot.ipxe", map[string]string{"kernel-url": "https://k.example/v?arch=x86_64"},
			script("https://k.example/v?arch=x86_64&ip=192.0.2.7&mac=${net0/mac}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, size, err := download(t, tt.name, tt.extra)
			if err != nil || got != tt.want || size != int64(len(got)) {
				t.Fatalf("got %q (size %d), %v; want %q", got, size, err, tt.want)
			}
		})
	}
}

func TestServeUptime(t *testing.T) {
	got, size, err := download(t, "uptime.txt", nil)
	if err != nil || size != -1 || !strings.HasPrefix(got, "up ") || !strings.Contains(got, "\nload average ") {
		t.Fatalf("got %q (size %d), %v", got, size, err)
	}
}

func TestServeErrors(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]string
		code  tftp.ErrorCode
	}{
		{"missing", nil, tftp.CodeNotFound},
		{"hello.txt/x", nil, tftp.CodeNotFound},
		{"upload/x", nil, tftp.CodeNotFound},
		{"ipxe/boot.ipxe", map[string]string{"kernel-url": "boot/vmlinuz"}, tftp.CodeUndefined},
		{"ipxe/boot.ipxe", map[string]string{"kernel-url": "http://[::1"}, tftp.CodeUndefined},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := download(t, tt.name, tt.extra)
			if code, msg := tftp.WireError(err); err == nil || code != tt.code {
				t.Fatalf("%v: wire %v %q, want code %v", err, code, msg, tt.code)
			}
		})
	}
}

func TestReceive(t *testing.T) {
	w, err := handler{}.ReceiveTFTP(context.Background(), request(tftp.OpWRQ, "/upload/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n, err := w.Write(make([]byte, 512)); n != 512 || err != nil {
			t.Fatal(n, err)
		}
	}
	if err := w.Commit(); err != nil || w.(*discard).n != 1536 {
		t.Fatalf("commit: %v, %d bytes", err, w.(*discard).n)
	}
	for _, name := range []string{"upload/", "hello.txt", "uploadx"} {
		if _, err := (handler{}).ReceiveTFTP(context.Background(), request(tftp.OpWRQ, name, nil)); !errors.Is(err, tftp.ErrNotFound) {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
}

// Closing a stream before the end stops and waits for its producer.
func TestStreamClose(t *testing.T) {
	stopped := make(chan error, 1)
	data := stream(func(w io.Writer) error {
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				stopped <- err
				return err
			}
		}
	})
	if _, err := io.ReadFull(data, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	data.Close()
	select {
	case err := <-stopped:
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("producer stopped with %v", err)
		}
	default:
		t.Fatal("Close returned before the producer")
	}
}

// A producer's error reaches the reader.
func TestStreamError(t *testing.T) {
	boom := errors.New("boom")
	data := stream(func(w io.Writer) error { return boom })
	defer data.Close()
	if _, err := io.ReadAll(data); !errors.Is(err, boom) {
		t.Fatalf("read: %v", err)
	}
}
