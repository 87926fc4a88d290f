package proto

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func encodeAll(t *testing.T, src []byte, chunk int) []byte {
	t.Helper()
	e := NewNetasciiEncoder(bytes.NewReader(src))
	var out []byte
	buf := make([]byte, chunk)
	for range 10 * (len(src) + 2) {
		n, err := e.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("encoder did not finish")
	return nil
}

func decodeAll(t *testing.T, wire []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	d := NewNetasciiDecoder(&out)
	for len(wire) > 0 {
		n := min(chunk, len(wire))
		if _, err := d.Write(wire[:n]); err != nil {
			t.Fatal(err)
		}
		wire = wire[n:]
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestNetascii(t *testing.T) {
	cases := []struct{ local, wire string }{
		{"", ""},
		{"abc", "abc"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\x00b"},
		{"\r\n", "\r\x00\r\n"},
		{"\n\n\r\r", "\r\n\r\n\r\x00\r\x00"},
		{"x\x00y", "x\x00y"},
		{"\r", "\r\x00"},
	}
	for _, tc := range cases {
		// Chunk sizes 1..4 put every CR on a block boundary somewhere.
		for chunk := 1; chunk <= 5; chunk++ {
			if got := encodeAll(t, []byte(tc.local), chunk); string(got) != tc.wire {
				t.Errorf("encode %q chunk %d = %q, want %q", tc.local, chunk, got, tc.wire)
			}
			if got := decodeAll(t, []byte(tc.wire), chunk); string(got) != tc.local {
				t.Errorf("decode %q chunk %d = %q, want %q", tc.wire, chunk, got, tc.local)
			}
		}
		n, err := NetasciiSize(bytes.NewReader([]byte(tc.local)))
		if err != nil || n != int64(len(tc.wire)) {
			t.Errorf("NetasciiSize(%q) = %d %v, want %d", tc.local, n, err, len(tc.wire))
		}
	}
}

func TestNetasciiLenient(t *testing.T) {
	// A CR followed by anything else is kept; a trailing lone CR is flushed.
	if got := decodeAll(t, []byte("a\rb\r"), 2); string(got) != "a\rb\r" {
		t.Fatalf("%q", got)
	}
}

func TestNetasciiReaderBehaviour(t *testing.T) {
	src := bytes.Repeat([]byte("line\r\n"), 10000)
	e := NewNetasciiEncoder(iotest.OneByteReader(bytes.NewReader(src)))
	got, err := io.ReadAll(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := encodeAll(t, src, 512); !bytes.Equal(got, want) {
		t.Fatal("one-byte reader changed the output")
	}
	if err := iotest.TestReader(NewNetasciiEncoder(bytes.NewReader([]byte("ab\ncd"))), []byte("ab\r\ncd")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := io.ReadAll(NewNetasciiEncoder(iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Fatalf("error not passed through: %v", err)
	}
	if _, err := NetasciiSize(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("size error not passed through: %v", err)
	}
	if _, err := io.ReadAll(NewNetasciiEncoder(stuck{})); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("a reader that returns 0, nil forever: %v", err)
	}
	w := NewNetasciiDecoder(failWriter{boom})
	if _, err := w.Write([]byte("abc")); !errors.Is(err, boom) {
		t.Fatal(err)
	}
}

type stuck struct{}

func (stuck) Read([]byte) (int, error) { return 0, nil }

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
