package proto

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func FuzzParsePacket(f *testing.F) {
	for _, s := range [][]byte{
		req(OpRRQ, "pxelinux.0", "octet", "tsize", "0", "blksize", "1468"),
		req(OpWRQ, "f", "netascii"),
		AppendData(nil, 1, []byte("x")), AppendAck(nil, 2), AppendError(nil, 1, "nope"),
		AppendOACK(nil, []Option{{Name: "blksize", Value: "512"}}), {0}, {}, {0, 1, 0, 0},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, _ := PeekOpcode(b)
		switch op {
		case OpRRQ, OpWRQ:
			r, err := ParseRequest(b)
			if err != nil && !errors.Is(err, ErrUnknownMode) {
				return
			}
			enc := AppendRequest(nil, r.Op, r.Filename, r.RawMode, r.Options)
			if !bytes.Equal(enc, b) {
				t.Fatalf("round trip changed %q to %q", b, enc)
			}
			r2, err2 := ParseRequest(enc)
			if !reflect.DeepEqual(r, r2) || !errors.Is(err2, err) {
				t.Fatalf("reparse differs")
			}
			if len(r.Filename) > MaxFilenameLen || len(r.Options) > MaxOptions {
				t.Fatal("bounds not enforced")
			}
		case OpDATA:
			if d, err := ParseData(b); err == nil && !bytes.Equal(AppendData(nil, d.Block, d.Payload), b) {
				t.Fatal("DATA round trip")
			}
		case OpACK:
			if n, err := ParseAck(b); err == nil && !bytes.Equal(AppendAck(nil, n), b[:4]) {
				t.Fatal("ACK round trip")
			}
		case OpERROR:
			if e, err := ParseError(b); err == nil {
				e2, err := ParseError(AppendError(nil, e.Code, e.Message))
				if err != nil || (e.Message != "" && e2 != e) {
					t.Fatalf("ERROR round trip %+v %+v", e, e2)
				}
			}
		case OpOACK:
			if o, err := ParseOACK(b); err == nil && !bytes.Equal(AppendOACK(nil, o), b) {
				t.Fatal("OACK round trip")
			}
		}
	})
}

func FuzzNegotiate(f *testing.F) {
	f.Add(true, "blksize", "1468", "tsize", "0", 1468, 16, int64(100))
	f.Add(false, "windowsize", "65535", "BLKSIZE2", "99999", 0, 0, int64(-1))
	f.Add(true, "rollover", "1", "utimeout", "10000", 512, 1, int64(0))
	f.Fuzz(func(t *testing.T, rrq bool, n1, v1, n2, v2 string, maxBlk, maxWin int, size int64) {
		op := OpWRQ
		if rrq {
			op = OpRRQ
		}
		req := []Option{{Name: n1, Value: v1}, {Name: n2, Value: v2}, {Name: "x-unknown", Value: v1}}
		lim := Limits{MaxBlksize: maxBlk, MaxWindowsize: maxWin}
		p := Negotiate(op, req, lim, size)
		if p.Blksize < MinBlksize || p.Blksize > lim.maxBlksize() && p.Blksize != DefaultBlksize {
			t.Fatalf("blksize %d outside limits (max %d)", p.Blksize, lim.maxBlksize())
		}
		if p.Windowsize < 1 || p.Windowsize > max(lim.maxWindow(), 1) {
			t.Fatalf("windowsize %d", p.Windowsize)
		}
		if p.Rollover != 0 && p.Rollover != 1 {
			t.Fatalf("rollover %d", p.Rollover)
		}
		if rrq && p.Tsize >= 0 && (p.Tsize != size || size == 0) {
			t.Fatalf("tsize %d for size %d", p.Tsize, size)
		}
		if len(p.Acked) > 2 {
			t.Fatalf("acked %v", p.Acked)
		}
		for _, a := range p.Acked {
			if !IsKnownOption(a.Name) {
				t.Fatalf("unknown option acked: %q", a.Name)
			}
			if _, ok := parseUint(a.Value); !ok {
				t.Fatalf("acked value %q", a.Value)
			}
		}
		// Refusing what was acknowledged removes it.
		for _, a := range p.Acked {
			q := Negotiate(op, req, Limits{MaxBlksize: maxBlk, MaxWindowsize: maxWin, Refuse: []string{a.Name}}, size)
			for _, b := range q.Acked {
				if b.Name == a.Name {
					t.Fatalf("refused option %q acked", a.Name)
				}
			}
		}
	})
}

func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\r\nb\rc\n"), uint8(3))
	f.Add([]byte("\r\r\r\n\n\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, local []byte, chunk uint8) {
		c := int(chunk%16) + 1
		wire := encodeAll(t, local, c)
		if n, _ := NetasciiSize(bytes.NewReader(local)); n != int64(len(wire)) {
			t.Fatalf("size %d, encoded %d", n, len(wire))
		}
		if back := decodeAll(t, wire, c); !bytes.Equal(back, local) {
			t.Fatalf("round trip %q -> %q -> %q", local, wire, back)
		}
		// Decoding arbitrary wire bytes never fails or panics.
		decodeAll(t, local, c)
	})
}
