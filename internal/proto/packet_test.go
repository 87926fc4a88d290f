package proto

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func req(op Opcode, parts ...string) []byte {
	b := []byte{0, byte(op)}
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

func TestParseRequest(t *testing.T) {
	long := strings.Repeat("a", MaxFilenameLen)
	cases := []struct {
		name    string
		in      []byte
		want    *Request
		wantErr error
	}{
		{"rrq octet", req(OpRRQ, "pxelinux.0", "octet"), &Request{Op: OpRRQ, Filename: "pxelinux.0", RawMode: "octet"}, nil},
		{"wrq netascii upper", req(OpWRQ, "cfg", "NetASCII"), &Request{Op: OpWRQ, Filename: "cfg", Mode: ModeNetascii, RawMode: "NetASCII"}, nil},
		{"options in order", req(OpRRQ, "f", "octet", "tsize", "0", "BLKSIZE", "1468", "x-vendor", "y"),
			&Request{Op: OpRRQ, Filename: "f", RawMode: "octet", Options: []Option{{Name: "tsize", Value: "0"}, {Name: "BLKSIZE", Value: "1468"}, {Name: "x-vendor", Value: "y"}}}, nil},
		{"empty value", req(OpRRQ, "f", "octet", "tsize", ""), &Request{Op: OpRRQ, Filename: "f", RawMode: "octet", Options: []Option{{Name: "tsize", Value: ""}}}, nil},
		{"longest filename", req(OpRRQ, long, "octet"), &Request{Op: OpRRQ, Filename: long, RawMode: "octet"}, nil},
		{"mail mode", req(OpRRQ, "f", "mail"), &Request{Op: OpRRQ, Filename: "f", RawMode: "mail"}, ErrUnknownMode},
		{"empty mode", req(OpRRQ, "f", ""), &Request{Op: OpRRQ, Filename: "f", RawMode: ""}, ErrUnknownMode},
		{"empty packet", nil, nil, ErrMalformed},
		{"one byte", []byte{0}, nil, ErrMalformed},
		{"opcode only", []byte{0, 1}, nil, ErrMalformed},
		{"unknown opcode", req(9, "f", "octet"), nil, ErrMalformed},
		{"DATA is not a request", req(OpDATA, "f", "octet"), nil, ErrMalformed},
		{"no NUL after filename", []byte("\x00\x01file"), nil, ErrMalformed},
		{"no mode", req(OpRRQ, "f"), nil, ErrMalformed},
		{"mode without NUL", []byte("\x00\x01f\x00octet"), nil, ErrMalformed},
		{"empty filename", req(OpRRQ, "", "octet"), nil, ErrMalformed},
		{"huge filename", req(OpRRQ, long+"a", "octet"), nil, ErrMalformed},
		{"odd option list", req(OpRRQ, "f", "octet", "blksize"), nil, ErrMalformed},
		{"option value without NUL", []byte("\x00\x01f\x00octet\x00blksize\x001468"), nil, ErrMalformed},
		{"empty option name", req(OpRRQ, "f", "octet", "", "1"), nil, ErrMalformed},
		{"option name too long", req(OpRRQ, "f", "octet", strings.Repeat("o", 256), "1"), nil, ErrMalformed},
		{"option value too long", req(OpRRQ, "f", "octet", "x", strings.Repeat("1", 256)), nil, ErrMalformed},
		{"mode too long", req(OpRRQ, "f", strings.Repeat("m", 256)), nil, ErrMalformed},
		{"too many options", req(OpRRQ, append([]string{"f", "octet"}, strings.Split(strings.Repeat("a,1,", MaxOptions+1), ",")[:2*(MaxOptions+1)]...)...), nil, ErrMalformed},
		{"oversized packet", append(req(OpRRQ, "f", "octet", "x", "y"), make([]byte, MaxPacketSize)...), nil, ErrMalformed},
		{"trailing garbage after options", append(req(OpRRQ, "f", "octet"), 0xff), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.in)
			if !errors.Is(err, tc.wantErr) || (err != nil && tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if got != nil && err == nil {
				again := AppendRequest(nil, got.Op, got.Filename, got.RawMode, got.Options)
				if !bytes.Equal(again, tc.in) {
					t.Fatalf("re-encoded %q, want %q", again, tc.in)
				}
			}
		})
	}
}

func TestRequestOption(t *testing.T) {
	r, err := ParseRequest(req(OpRRQ, "f", "octet", "TSize", "0", "tsize", "5"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Option("tsize"); !ok || v != "0" {
		t.Fatalf("Option(tsize) = %q %v", v, ok)
	}
	if _, ok := r.Option("blksize"); ok {
		t.Fatal("found absent option")
	}
}

func TestData(t *testing.T) {
	pkt := AppendData(nil, 65535, []byte("hello"))
	d, err := ParseData(pkt)
	if err != nil || d.Block != 65535 || string(d.Payload) != "hello" {
		t.Fatalf("%+v %v", d, err)
	}
	empty, err := ParseData(AppendData(nil, 7, nil))
	if err != nil || empty.Block != 7 || len(empty.Payload) != 0 {
		t.Fatalf("%+v %v", empty, err)
	}
	buf := make([]byte, 8)
	PutDataHeader(buf, 258)
	if !bytes.Equal(buf[:4], []byte{0, 3, 1, 2}) {
		t.Fatalf("header %v", buf[:4])
	}
	for _, bad := range [][]byte{nil, {0}, {0, 3, 1}, {0, 4, 0, 1}} {
		if _, err := ParseData(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseData(%v) err %v", bad, err)
		}
	}
}

func TestAck(t *testing.T) {
	n, err := ParseAck(AppendAck(nil, 513))
	if err != nil || n != 513 {
		t.Fatalf("%d %v", n, err)
	}
	if n, err := ParseAck([]byte{0, 4, 0, 9, 0, 0}); err != nil || n != 9 {
		t.Fatalf("padded ACK: %d %v", n, err)
	}
	for _, bad := range [][]byte{nil, {0, 4}, {0, 4, 1}, {0, 3, 0, 1}} {
		if _, err := ParseAck(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseAck(%v) err %v", bad, err)
		}
	}
}

func TestErrorPacket(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want ErrorPacket
		err  error
	}{
		{"normal", AppendError(nil, ErrNotFound, "File not found"), ErrorPacket{ErrNotFound, "File not found"}, nil},
		{"default text", AppendError(nil, ErrOptionRefused, ""), ErrorPacket{ErrOptionRefused, ErrOptionRefused.String()}, nil},
		{"no NUL", []byte("\x00\x05\x00\x02nope"), ErrorPacket{ErrAccessViolation, "nope"}, nil},
		{"no message", []byte{0, 5, 0, 8}, ErrorPacket{ErrOptionRefused, ""}, nil},
		{"long message cut", append([]byte{0, 5, 0, 0}, bytes.Repeat([]byte("x"), 1000)...), ErrorPacket{0, strings.Repeat("x", MaxErrorMessageLen)}, nil},
		{"short", []byte{0, 5, 0}, ErrorPacket{}, ErrMalformed},
		{"wrong opcode", []byte{0, 4, 0, 0}, ErrorPacket{}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseError(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("got %+v %v, want %+v %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestOACK(t *testing.T) {
	opts := []Option{{Name: "blksize", Value: "1468"}, {Name: "tsize", Value: "123"}}
	got, err := ParseOACK(AppendOACK(nil, opts))
	if err != nil || !reflect.DeepEqual(got, opts) {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParseOACK([]byte{0, 6}); err != nil || len(got) != 0 {
		t.Fatalf("empty OACK: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0}, {0, 5}, []byte("\x00\x06blksize\x00"), []byte("\x00\x06blksize")} {
		if _, err := ParseOACK(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseOACK(%q) err %v", bad, err)
		}
	}
}

// TestPeekOpcode; the names of opcodes, modes and codes are package
// tftp's (tftp.TestNames).
func TestPeekOpcode(t *testing.T) {
	if op, ok := PeekOpcode([]byte{0, 3, 9}); !ok || op != OpDATA {
		t.Error("PeekOpcode")
	}
	if _, ok := PeekOpcode([]byte{0}); ok {
		t.Error("PeekOpcode short")
	}
}
