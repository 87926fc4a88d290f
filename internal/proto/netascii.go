package proto

import (
	"bufio"
	"errors"
	"io"
)

// netascii (RFC 1350 §1, RFC 764): on the wire every line ends in CR LF and
// a bare CR is sent as CR NUL. These converters stream in both directions
// with fixed buffers, so a conversion never holds a whole file in memory and
// a CR that falls on a block boundary is carried to the next block.

// NetasciiEncoder reads local bytes from a source and yields their netascii
// form: LF -> CR LF, CR -> CR NUL.
type NetasciiEncoder struct {
	src        io.Reader
	buf        []byte
	r, w       int
	pending    byte // second byte of an expansion that did not fit
	hasPending bool
	err        error
}

// NewNetasciiEncoder returns an encoder reading from src.
func NewNetasciiEncoder(src io.Reader) *NetasciiEncoder {
	return &NetasciiEncoder{src: src, buf: make([]byte, 32*1024)}
}

// Read fills p with converted bytes. It reads from the source only when its
// buffer is empty and nothing has been produced yet, so it never blocks
// while holding output.
func (e *NetasciiEncoder) Read(p []byte) (int, error) {
	n := 0
	if e.hasPending && len(p) > 0 {
		p[0] = e.pending
		e.hasPending = false
		n = 1
	}
	empty := 0
	for n < len(p) {
		if e.r == e.w {
			if e.err != nil || n > 0 {
				break
			}
			m, err := e.src.Read(e.buf)
			e.r, e.w, e.err = 0, m, err
			if m == 0 && err == nil {
				if empty++; empty > 100 {
					e.err = io.ErrNoProgress
				}
			}
			continue
		}
		c := e.buf[e.r]
		e.r++
		var next byte
		switch c {
		case '\n':
			c, next = '\r', '\n'
		case '\r':
			c, next = '\r', 0
		default:
			p[n] = c
			n++
			continue
		}
		p[n] = c
		n++
		if n < len(p) {
			p[n] = next
			n++
		} else {
			e.pending, e.hasPending = next, true
		}
	}
	if n == 0 && e.err != nil {
		return 0, e.err
	}
	return n, nil
}

// NetasciiSize returns the size of r's content once encoded as netascii,
// reading r to its end through a small buffer (never all of it at once).
func NetasciiSize(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 32*1024)
	var n int64
	for {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
		if c == '\n' || c == '\r' {
			n++
		}
	}
}

// NetasciiDecoder is an io.Writer that turns netascii into local bytes and
// writes them to a destination: CR LF -> LF, CR NUL -> CR. A CR followed by
// any other byte is kept as is (lenient, as most servers are). Call Flush
// after the last block: a final lone CR is written then.
type NetasciiDecoder struct {
	dst io.Writer
	buf []byte
	cr  bool // the previous Write ended in a CR
}

// NewNetasciiDecoder returns a decoder writing to dst.
func NewNetasciiDecoder(dst io.Writer) *NetasciiDecoder {
	return &NetasciiDecoder{dst: dst}
}

// Write converts p and writes the result. It reports len(p) on success.
func (d *NetasciiDecoder) Write(p []byte) (int, error) {
	if cap(d.buf) < len(p)+1 {
		d.buf = make([]byte, 0, len(p)+1)
	}
	out := d.buf[:0]
	for _, c := range p {
		if d.cr {
			d.cr = false
			switch c {
			case '\n':
				out = append(out, '\n')
				continue
			case 0:
				out = append(out, '\r')
				continue
			default:
				out = append(out, '\r')
			}
		}
		if c == '\r' {
			d.cr = true
			continue
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		if _, err := d.dst.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes a pending lone CR, if the data ended in one.
func (d *NetasciiDecoder) Flush() error {
	if !d.cr {
		return nil
	}
	d.cr = false
	_, err := d.dst.Write([]byte{'\r'})
	return err
}
