package fbtftp

import (
	"bytes"
	"io"
	"os"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// ResponseData is the content of a download. The worker reads it once from
// the start (or with ReadAt, when the value also implements io.ReaderAt,
// so that retransmissions need no buffer) and closes it at the end of the
// session. Size reports the length when known; a known size lets the
// server acknowledge the tsize option (RFC 2349).
//
// A ResponseData may say where its content came from with a method
// Source() tftp.Source: the session line's "source" field,
// tftp.SessionStats.Source and the master's
// fbtftp_content_sessions_total{source} (cache hits against origin
// fetches, for instance). Content without that method (or reporting a value
// outside the tftp.Source constants) counts as tftp.SourceCustom.
type ResponseData interface {
	io.Reader
	io.Closer
	Size() (int64, bool)
}

// FileResponse serves an open file. Its size comes from Stat; reads use
// ReadAt. The file is closed with the session.
func FileResponse(f *os.File) (ResponseData, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileResponse{File: f, size: fi.Size()}, nil
}

type fileResponse struct {
	*os.File
	size int64
}

func (f *fileResponse) Size() (int64, bool) { return f.size, true }
func (f *fileResponse) Source() tftp.Source { return tftp.SourceFile }

// BytesResponse serves b. The slice must not change during the session.
func BytesResponse(b []byte) ResponseData {
	return &bytesResponse{Reader: bytes.NewReader(b), size: int64(len(b))}
}

type bytesResponse struct {
	*bytes.Reader
	size int64
}

func (b *bytesResponse) Source() tftp.Source { return tftp.SourceCustom }

func (b *bytesResponse) Size() (int64, bool) { return b.size, true }
func (b *bytesResponse) Close() error        { return nil }

// ReaderResponse serves r, read once from start to end. size is its length,
// or -1 when unknown (then tsize is not acknowledged; the transfer still
// works and ends at the first short block). r is closed with the session
// when it implements io.Closer.
func ReaderResponse(r io.Reader, size int64) ResponseData {
	return &readerResponse{r: r, size: size}
}

type readerResponse struct {
	r    io.Reader
	size int64
}

func (r *readerResponse) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *readerResponse) Size() (int64, bool)        { return r.size, r.size >= 0 }
func (r *readerResponse) Close() error {
	if c, ok := r.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// sourceOf returns where data came from.
func sourceOf(data ResponseData) tftp.Source {
	if s, ok := data.(interface{ Source() tftp.Source }); ok {
		if src := s.Source(); src != tftp.SourceNone && src.Valid() {
			return src
		}
	}
	return tftp.SourceCustom
}
