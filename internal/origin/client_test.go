package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
	"github.com/fbtftp-go/fbtftp/tftp"
)

// wire returns what the TFTP engine would send for err.
func wire(t *testing.T, err error) (proto.ErrorCode, string) {
	t.Helper()
	var e *tftp.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q carries no TFTP code", err)
	}
	return tftp.WireError(err)
}

// origin is a loopback HTTP server that counts its requests.
type origin struct {
	*httptest.Server
	requests atomic.Int64
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

// payload returns n bytes of a fixed pattern.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func readAll(t *testing.T, c Content) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return b
}

func TestOpenContent(t *testing.T) {
	data := payload(100_000)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "identity" {
			t.Errorf("Accept-Encoding = %q", r.Header.Get("Accept-Encoding"))
		}
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		case "/chunked":
			for b := data; len(b) > 0; b = b[min(len(b), 10_000):] {
				w.Write(b[:min(len(b), 10_000)])
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.Header().Set("Content-Length", "0")
		}
	})
	tests := []struct {
		path      string
		want      []byte
		size      int64
		sizeKnown bool
	}{
		{"/length", data, int64(len(data)), true},
		{"/chunked", data, -1, false},
		{"/empty", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var c Client
			body, err := c.Open(t.Context(), o.URL+tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := body.(io.ReaderAt); ok {
				t.Error("a stream must not be an io.ReaderAt")
			}
			if n, ok := body.Size(); ok != tt.sizeKnown || ok && n != tt.size {
				t.Errorf("Size() = %d, %v; want %d, %v", n, ok, tt.size, tt.sizeKnown)
			}
			if got := readAll(t, body); !bytes.Equal(got, tt.want) {
				t.Errorf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	const secret = "internal-detail-xyzzy"
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/404":
			http.Error(w, secret, http.StatusNotFound)
		case "/410":
			http.Error(w, secret, http.StatusGone)
		case "/401":
			http.Error(w, secret, http.StatusUnauthorized)
		case "/403":
			http.Error(w, secret, http.StatusForbidden)
		case "/500":
			http.Error(w, secret, http.StatusInternalServerError)
		case "/302":
			http.Redirect(w, r, "/404", http.StatusFound)
		case "/big":
			w.Header().Set("Content-Length", "2000")
			w.Write(make([]byte, 2000))
		}
	})
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		return "http://" + l.Addr().String() + "/x"
	}()
	tests := []struct {
		name    string
		url     string
		code    proto.ErrorCode
		msg     string
		logText string // must appear in the error text
	}{
		{"404", o.URL + "/404", proto.ErrNotFound, "File not found", "404"},
		{"410", o.URL + "/410", proto.ErrNotFound, "File not found", "410"},
		{"401", o.URL + "/401", proto.ErrAccessViolation, "Access violation", "401"},
		{"403", o.URL + "/403", proto.ErrAccessViolation, "Access violation", "403"},
		{"500", o.URL + "/500", proto.ErrUndefined, "origin error", "500"},
		{"redirect to 404", o.URL + "/302", proto.ErrNotFound, "File not found", "404"},
		{"too large", o.URL + "/big", proto.ErrUndefined, "origin error", "size limit"},
		{"refused", refused, proto.ErrUndefined, "origin error", "refused"},
		{"scheme file", "file:///etc/passwd", proto.ErrUndefined, "origin error", "unsupported scheme"},
		{"scheme ftp", "ftp://127.0.0.1/x", proto.ErrUndefined, "origin error", "unsupported scheme"},
		{"no host", "http:///x", proto.ErrUndefined, "origin error", "no host"},
		{"bad url", "http://[::1", proto.ErrUndefined, "origin error", "bad url"},
		{"password redacted", "ftp://user:hunter2@127.0.0.1/", proto.ErrUndefined, "origin error", "user:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Client{MaxSize: 1000}
			body, err := c.Open(t.Context(), tt.url)
			if err == nil {
				body.Close()
				t.Fatal("no error")
			}
			code, msg := wire(t, err)
			if code != tt.code || msg != tt.msg {
				t.Errorf("wire = %d %q, want %d %q", code, msg, tt.code, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.logText) {
				t.Errorf("error %q does not mention %q", err, tt.logText)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "127.0.0.1") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("internal text leaked: wire %q, log %q", msg, err)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stall-headers":
		case "/stall-body":
			w.Header().Set("Content-Length", "100")
			w.Write(make([]byte, 10))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := Client{HeaderTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond}

	t.Run("header", func(t *testing.T) {
		_, err := c.Open(t.Context(), o.URL+"/stall-headers")
		if !errors.Is(err, ErrHeaderTimeout) {
			t.Fatalf("err = %v, want ErrHeaderTimeout", err)
		}
		if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
			t.Errorf("wire = %d %q", code, msg)
		}
	})
	t.Run("idle", func(t *testing.T) {
		body, err := c.Open(t.Context(), o.URL+"/stall-body")
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		_, err = io.ReadAll(body)
		if !errors.Is(err, ErrIdleTimeout) {
			t.Fatalf("err = %v, want ErrIdleTimeout", err)
		}
		if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
			t.Errorf("wire = %d %q", code, msg)
		}
		if _, err2 := body.Read(make([]byte, 1)); err2 != err {
			t.Errorf("later read: %v, want the same error", err2)
		}
	})
	t.Run("session ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		body, err := c.Open(ctx, o.URL+"/stall-body")
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		cancel()
		if _, err := io.ReadAll(body); err == nil {
			t.Fatal("read after cancel succeeded")
		}
	})
}

// TestBodyShortAndLong checks that a body shorter than its Content-Length
// fails, and that MaxSize stops a chunked body.
func TestBodyShortAndLong(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			// Hijack to send fewer bytes than announced.
			conn, bw, _ := w.(http.Hijacker).Hijack()
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n%s", make([]byte, 10))
			bw.Flush()
			conn.Close()
		case "/long":
			for range 10 {
				w.Write(make([]byte, 1000))
				w.(http.Flusher).Flush()
			}
		}
	})
	tests := []struct{ path, text string }{
		{"/short", "unexpected EOF"},
		{"/long", "size limit"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := Client{MaxSize: 5000}
			body, err := c.Open(t.Context(), o.URL+tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			_, err = io.ReadAll(body)
			if err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %q", err, tt.text)
			}
			if code, _ := wire(t, err); code != proto.ErrUndefined {
				t.Errorf("code %d", code)
			}
		})
	}
}

// zeroReader is an endless source of zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestStreamBoundedMemory streams 100 MiB through a 64 KiB buffer and
// checks that the heap in use does not grow with the object.
func TestStreamBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	const size = 100 << 20
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.CopyN(w, zeroReader{}, size)
	})
	var c Client
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	base := heap()
	body, err := c.Open(t.Context(), o.URL+"/big")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	buf := make([]byte, 64<<10)
	var total int64
	var peak uint64
	for i := 0; ; i++ {
		n, err := body.Read(buf)
		total += int64(n)
		if i%256 == 0 {
			peak = max(peak, heap())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != size {
		t.Fatalf("read %d bytes, want %d", total, size)
	}
	if growth := int64(peak) - int64(base); growth > 4<<20 {
		t.Errorf("heap in use grew by %d bytes while streaming %d", growth, size)
	}
}

func TestOpenHTTPS(t *testing.T) {
	data := payload(10_000)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	c := Client{HTTP: srv.Client()}
	body, err := c.Open(t.Context(), srv.URL+"/x")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, body); !bytes.Equal(got, data) {
		t.Fatal("wrong content")
	}
	// The built-in client does not trust the test certificate.
	var d Client
	if _, err := d.Open(t.Context(), srv.URL+"/x"); err == nil {
		t.Fatal("untrusted certificate accepted")
	} else if code, msg := wire(t, err); code != proto.ErrUndefined || msg != "origin error" {
		t.Errorf("wire %d %q", code, msg)
	}
}
