package fbtftp

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fbtftp-go/fbtftp/tftp"
)

func TestResponses(t *testing.T) {
	b := BytesResponse([]byte("hello"))
	if n, ok := b.Size(); !ok || n != 5 {
		t.Error("bytes size")
	}
	if _, ok := b.(io.ReaderAt); !ok {
		t.Error("BytesResponse must offer ReadAt")
	}
	got, _ := io.ReadAll(b)
	if string(got) != "hello" || b.Close() != nil {
		t.Error("bytes content")
	}

	r := ReaderResponse(strings.NewReader("stream"), -1)
	if _, ok := r.Size(); ok {
		t.Error("unknown size reported as known")
	}
	if _, ok := r.(io.ReaderAt); ok {
		t.Error("ReaderResponse must not claim ReadAt")
	}
	got, _ = io.ReadAll(r)
	if string(got) != "stream" || r.Close() != nil {
		t.Error("reader content")
	}
	rc := ReaderResponse(io.NopCloser(strings.NewReader("x")), 1)
	if n, ok := rc.Size(); !ok || n != 1 || rc.Close() != nil {
		t.Error("reader closer")
	}

	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("file!"), 0o644)
	f, _ := os.Open(p)
	fr, err := FileResponse(f)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := fr.Size(); !ok || n != 5 {
		t.Error("file size")
	}
	if _, ok := fr.(io.ReaderAt); !ok {
		t.Error("FileResponse must offer ReadAt")
	}
	fr.Close()
	if _, err := FileResponse(f); err == nil {
		t.Error("FileResponse of a closed file")
	}
}

func TestRequestOption(t *testing.T) {
	r := &Request{Options: []tftp.Option{{Name: "BlkSize", Value: "1468"}}}
	if v, ok := r.Option("blksize"); !ok || v != "1468" {
		t.Error("Option")
	}
	if _, ok := r.Option("tsize"); ok {
		t.Error("absent option")
	}
}

func TestServeTFTPRecovers(t *testing.T) {
	h := HandlerFunc(func(context.Context, *Request) (ResponseData, error) { panic("boom") })
	if _, err := serveTFTP(context.Background(), h, &Request{}); err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("%v", err)
	}
	nothing := HandlerFunc(func(context.Context, *Request) (ResponseData, error) { return nil, nil })
	if _, err := serveTFTP(context.Background(), nothing, &Request{}); err == nil {
		t.Fatal("nil data and nil error accepted")
	}
}

func TestServeWorkerByHand(t *testing.T) {
	// Descriptor 3 is not the master's socketpair in a test binary.
	if err := ServeWorker(context.Background(), HandlerFunc(nil), WorkerConfig{}); !errors.Is(err, ErrNotStartedByMaster) {
		t.Fatalf("%v", err)
	}
}
