package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/client"
	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/test/testenv"
	"github.com/fbtftp-go/fbtftp/tftp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>9)
	}
	return b
}

// serveRoot writes files (world-readable, as in.tftpd requires) to a new root.
func serveRoot(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func get(t *testing.T, addr netip.AddrPort, file string, opts client.Options) ([]byte, client.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var buf bytes.Buffer
	res, err := client.Get(ctx, addr, file, opts, &buf)
	if err == nil {
		if res.Peer.Addr() != addr.Addr() || res.Peer.Port() == addr.Port() {
			t.Errorf("reply from %v, request sent to %v", res.Peer, addr)
		}
	}
	return buf.Bytes(), res, err
}

var sizes = map[string]int{"0": 0, "1": 1, "512": 512, "1M": 1 << 20, "rollover": 70_000 * 8, "rollover32": 70_000 * 32}

func files() map[string][]byte {
	m := map[string][]byte{"text.txt": []byte("line 1\nline 2\r\nbare\rcr\n\nend\r")}
	for name, n := range sizes {
		m[name] = content(n)
	}
	return m
}

func TestInTFTPD(t *testing.T) {
	fs := files()
	addr := testenv.StartInetd(t, testenv.InTftpd(t), loopback, "-u", "root", "-s", serveRoot(t, fs))

	for _, name := range []string{"0", "1", "512", "1M"} {
		t.Run("size-"+name, func(t *testing.T) {
			got, res, err := get(t, addr, name, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fs[name]) || res.OACK || res.Blocks != uint64(len(fs[name])/512+1) {
				t.Fatalf("got %d bytes, want %d; %+v", len(got), len(fs[name]), res)
			}
		})
	}
	for _, bs := range []int{512, 1468, 8192, 65464} {
		t.Run(fmt.Sprintf("blksize-%d", bs), func(t *testing.T) {
			got, res, err := get(t, addr, "1M", client.Options{Blksize: bs, Tsize: true})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fs["1M"]) || res.Blksize != bs || res.Tsize != 1<<20 {
				t.Fatalf("got %d bytes; %+v", len(got), res)
			}
		})
	}
	t.Run("windowsize-ignored", func(t *testing.T) {
		got, res, err := get(t, addr, "1M", client.Options{Blksize: 1468, Windowsize: 16})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fs["1M"]) || res.Windowsize != 1 || res.Blksize != 1468 {
			t.Fatalf("got %d bytes; %+v", len(got), res)
		}
	})
	t.Run("netascii", func(t *testing.T) {
		got, res, err := get(t, addr, "text.txt", client.Options{Mode: proto.ModeNetascii})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fs["text.txt"]) {
			t.Fatalf("got %q, want %q", got, fs["text.txt"])
		}
		// On the wire: 4 LF and 3 CR are each one byte longer.
		if want := int64(len(fs["text.txt"]) + 7); res.Bytes != want {
			t.Fatalf("wire bytes %d, want %d", res.Bytes, want)
		}
	})
	t.Run("netascii-tsize-refused", func(t *testing.T) {
		// tftpd-hpa 5.2 cannot size a netascii transfer: it answers
		// ERROR 8 "Unsupported option(s) requested".
		_, _, err := get(t, addr, "text.txt", client.Options{Mode: proto.ModeNetascii, Tsize: true})
		if !errors.Is(err, &tftp.Error{Code: proto.ErrOptionRefused}) {
			t.Fatalf("err %v, want a server error 8", err)
		}
	})
	t.Run("not-found", func(t *testing.T) {
		_, _, err := get(t, addr, "missing", client.Options{})
		var se *tftp.Error
		if !errors.As(err, &se) || se.Code != proto.ErrNotFound {
			t.Fatalf("err %v, want a server error 1", err)
		}
	})
	t.Run("rollover", func(t *testing.T) {
		if testing.Short() {
			t.Skip("70,000 lockstep round trips")
		}
		got, res, err := get(t, addr, "rollover", client.Options{Blksize: 8})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fs["rollover"]) || res.Blocks != 70_001 {
			t.Fatalf("got %d bytes; %+v", len(got), res)
		}
	})
}

func TestInTFTPDUpload(t *testing.T) {
	root := serveRoot(t, nil)
	addr := testenv.StartInetd(t, testenv.InTftpd(t), loopback, "-u", "root", "-c", "-s", root)
	for _, tc := range []struct {
		name string
		data []byte
		opts client.Options
	}{
		{"empty", nil, client.Options{}},
		{"lockstep", content(100_000), client.Options{Tsize: true}},
		{"blksize", content(300_000), client.Options{Blksize: 1468, Tsize: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := client.Put(ctx, addr, tc.name, tc.opts, bytes.NewReader(tc.data), int64(len(tc.data)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Bytes != int64(len(tc.data)) || res.Peer.Addr() != addr.Addr() {
				t.Fatalf("result %+v", res)
			}
			// in.tftpd acknowledges the last block after writing it.
			got, err := os.ReadFile(filepath.Join(root, tc.name))
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("stored %d bytes, want %d (%v)", len(got), len(tc.data), err)
			}
		})
	}
}

func TestAtftpdWindows(t *testing.T) {
	fs := files()
	addr := testenv.StartInetd(t, testenv.Atftpd(t), loopback, "--user", "root.root", "--logfile", "/dev/null", serveRoot(t, fs))
	for _, tc := range []struct {
		file string
		opts client.Options
	}{
		{"1M", client.Options{Blksize: 1468, Windowsize: 4}},
		{"1M", client.Options{Blksize: 1468, Windowsize: 16, Tsize: true}},
		{"1M", client.Options{Blksize: 8192, Windowsize: 64}},
		{"512", client.Options{Windowsize: 8}},
		{"0", client.Options{Windowsize: 8}},
		// atftpd refuses a blksize smaller than its OACK (24 bytes here).
		{"rollover32", client.Options{Blksize: 32, Windowsize: 64}},
	} {
		t.Run(fmt.Sprintf("%s-b%d-w%d", tc.file, tc.opts.Blksize, tc.opts.Windowsize), func(t *testing.T) {
			got, res, err := get(t, addr, tc.file, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, fs[tc.file]) || res.Windowsize != tc.opts.Windowsize {
				t.Fatalf("got %d bytes, want %d; %+v", len(got), len(fs[tc.file]), res)
			}
		})
	}
}
