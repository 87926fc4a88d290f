package fbtftp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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

// drainWriter is a handler with both optional interfaces.
type drainWriter struct{ HandlerFunc }

func (drainWriter) Drain(context.Context) error { return nil }
func (drainWriter) ReceiveTFTP(context.Context, *Request) (WriteTarget, error) {
	return nil, errors.New("no")
}

// wrapper wraps a handler and says so.
type wrapper struct {
	HandlerFunc
	inner Handler
}

func (w wrapper) Unwrap() Handler { return w.inner }

// outerDrainer drains itself and wraps another drainer.
type outerDrainer struct{ wrapper }

func (*outerDrainer) Drain(context.Context) error { return nil }

// loop unwraps to itself.
type loop struct{ HandlerFunc }

func (l loop) Unwrap() Handler { return l }

// TestUnwrap: the optional interfaces are found through wrappers' Unwrap
// methods, the outermost first; a chain that loops or ends in nil ends.
func TestUnwrap(t *testing.T) {
	inner := drainWriter{}
	if _, ok := implementation[Drainer](wrapper{inner: wrapper{inner: inner}}); !ok {
		t.Error("Drainer not found through two wrappers")
	}
	if _, ok := implementation[WriteHandler](wrapper{inner: inner}); !ok {
		t.Error("WriteHandler not found through a wrapper")
	}
	if _, ok := implementation[Drainer](HandlerFunc(nil)); ok {
		t.Error("Drainer found on a plain HandlerFunc")
	}
	if _, ok := implementation[Drainer](loop{}); ok {
		t.Error("Drainer found on a loop")
	}
	if _, ok := implementation[Drainer](wrapper{}); ok {
		t.Error("Drainer found behind nil")
	}
	outer := &outerDrainer{wrapper: wrapper{inner: inner}}
	if d, ok := implementation[Drainer](outer); !ok || d != Drainer(outer) {
		t.Error("the outermost implementation first")
	}
}

// TestPanicLoggedWithStack: a handler's panic becomes ERROR 0 for the
// client and a "session failed" line with the panic's stack.
func TestPanicLoggedWithStack(t *testing.T) {
	h := HandlerFunc(func(context.Context, *Request) (ResponseData, error) { panic("boom") })
	_, err := serveTFTP(context.Background(), h, &Request{})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("%v", err)
	}
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	logFailure(log, &tftp.SessionStats{Outcome: tftp.OutcomeServerError}, err)
	var line struct{ Msg, Error, Stack string }
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatal(err)
	}
	if line.Msg != "session failed" || !strings.Contains(line.Error, "boom") ||
		!strings.Contains(line.Stack, "TestPanicLoggedWithStack") {
		t.Fatalf("log line %s", buf.String())
	}
}
