package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// Bounds on what a message may carry. Encoders refuse values beyond them
// (ErrInvalid) and decoders reject messages that exceed them (ErrMalformed).
const (
	// MaxMessageSize is the hard limit on one encoded message, in bytes.
	MaxMessageSize = 64 << 10
	// MaxStringLen bounds every string field (filenames, option names and
	// values, roots, extra keys and values, messages).
	MaxStringLen = 4096
	// MaxOptions bounds Handoff.Options and the two option lists of Stats.
	MaxOptions = 64
	// MaxRoots bounds Settings.Roots.
	MaxRoots = 16
	// MaxRefuse bounds Settings.Refuse.
	MaxRefuse = 16
	// MaxExtra bounds the number of Settings.Extra entries.
	MaxExtra = 64
)

// maxZoneLen bounds an IPv6 zone. Zones are interface names (IFNAMSIZ is 16)
// or interface indexes; 64 leaves room for both.
const maxZoneLen = 64

// Message types: the first byte of every message.
const (
	msgHello    byte = 1
	msgHandoff  byte = 2
	msgStats    byte = 3
	msgOrigin   byte = 4
	msgProgress byte = 5
)

// Address tags of the address encoding.
const (
	addrNone byte = 0 // the zero netip.AddrPort: no address, no port
	addr4    byte = 4 // 4 address bytes, then the port
	addr6    byte = 6 // 16 address bytes, the zone string, then the port
)

// The range of encodable times: years 1 to 9999 UTC. The zero time.Time is
// the first second of year 1, which keeps it encodable.
const (
	minUnix = -62135596800 // 0001-01-01T00:00:00Z
	maxUnix = 253402300799 // 9999-12-31T23:59:59Z
)

// Errors. Decoding errors wrap ErrMalformed, encoding errors wrap ErrInvalid;
// both name the message and field at fault.
var (
	// ErrMalformed is wrapped by every error that reports a message that
	// cannot be decoded: unknown type, truncated or over-long fields,
	// trailing bytes, out-of-range values, unexpected file descriptors.
	ErrMalformed = errors.New("ipc: malformed message")
	// ErrInvalid is wrapped by every error that reports a value that cannot
	// be encoded because it exceeds a bound or holds an invalid value.
	ErrInvalid = errors.New("ipc: invalid message")
	// ErrVersionMismatch is wrapped by the error that reports a Hello whose
	// protocol version is not Version.
	ErrVersionMismatch = errors.New("ipc: protocol version mismatch")
	// ErrNotStartedByMaster is wrapped by the error FromFD returns when the
	// descriptor is not the master's socketpair end, typically because a
	// human ran the worker by hand. Its text is what the worker prints.
	ErrNotStartedByMaster = errors.New("must be started by fbtftp-master")
)

// writer appends fields to a buffer and remembers the first invalid one.
type writer struct {
	b   []byte
	msg string // message name, for errors
	err error
}

func (w *writer) fail(field, why string) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %s: %s: %s", ErrInvalid, w.msg, field, why)
	}
}

func (w *writer) byte1(v byte) { w.b = append(w.b, v) }

func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *writer) varint(v int64) { w.b = binary.AppendVarint(w.b, v) }

// count writes a list length after checking it against its bound.
func (w *writer) count(field string, n, max int) {
	if n > max {
		w.fail(field, fmt.Sprintf("%d entries, at most %d allowed", n, max))
		return
	}
	w.uvarint(uint64(n))
}

// nonNeg writes a non-negative int that fits in an int32.
func (w *writer) nonNeg(field string, v int) {
	if v < 0 || v > math.MaxInt32 {
		w.fail(field, fmt.Sprintf("%d out of range", v))
		return
	}
	w.uvarint(uint64(v))
}

func (w *writer) int32v(field string, v int) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		w.fail(field, fmt.Sprintf("%d out of range", v))
		return
	}
	w.varint(int64(v))
}

func (w *writer) str(field, s string, max int) {
	if len(s) > max {
		w.fail(field, fmt.Sprintf("%d bytes long, at most %d allowed", len(s), max))
		return
	}
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) duration(field string, d time.Duration) {
	if d < 0 {
		w.fail(field, "negative duration")
		return
	}
	w.uvarint(uint64(d))
}

func (w *writer) time(field string, t time.Time) {
	sec := t.Unix()
	if sec < minUnix || sec > maxUnix {
		w.fail(field, "time outside years 1 to 9999")
		return
	}
	w.varint(sec)
	w.uvarint(uint64(t.Nanosecond()))
}

func (w *writer) op(field string, op proto.Opcode) {
	if op != proto.OpRRQ && op != proto.OpWRQ {
		w.fail(field, fmt.Sprintf("%v is neither RRQ nor WRQ", op))
		return
	}
	w.byte1(byte(op))
}

func (w *writer) mode(field string, m proto.Mode) {
	if m != proto.ModeOctet && m != proto.ModeNetascii {
		w.fail(field, fmt.Sprintf("unknown mode %d", m))
		return
	}
	w.byte1(byte(m))
}

func (w *writer) options(field string, opts []proto.Option) {
	w.count(field, len(opts), MaxOptions)
	if w.err != nil {
		return
	}
	for _, o := range opts {
		if o.Name == "" {
			w.fail(field, "empty option name")
			return
		}
		w.str(field, o.Name, MaxStringLen)
		w.str(field, o.Value, MaxStringLen)
	}
}

func (w *writer) strings(field string, ss []string, max int) {
	w.count(field, len(ss), max)
	if w.err != nil {
		return
	}
	for _, s := range ss {
		w.str(field, s, MaxStringLen)
	}
}

// addr writes an address. IPv4-mapped IPv6 addresses are unmapped: on the
// wire, addresses are canonical. If required, the zero AddrPort is refused.
func (w *writer) addr(field string, ap netip.AddrPort, required bool) {
	a := ap.Addr()
	if !a.IsValid() {
		switch {
		case required:
			w.fail(field, "missing address")
		case ap.Port() != 0:
			w.fail(field, "port without address")
		default:
			w.byte1(addrNone)
		}
		return
	}
	a = a.Unmap()
	if a.Is4() {
		w.byte1(addr4)
		a4 := a.As4()
		w.b = append(w.b, a4[:]...)
	} else {
		w.byte1(addr6)
		a16 := a.As16()
		w.b = append(w.b, a16[:]...)
		w.str(field, a.Zone(), maxZoneLen)
	}
	w.b = binary.BigEndian.AppendUint16(w.b, ap.Port())
}

// finish returns the encoded message or the first error, and enforces
// MaxMessageSize. start is where the message began in w.b.
func (w *writer) finish(start int) ([]byte, error) {
	if w.err != nil {
		return w.b[:start], w.err
	}
	if n := len(w.b) - start; n > MaxMessageSize {
		return w.b[:start], fmt.Errorf("%w: %s: %d bytes, at most %d allowed", ErrInvalid, w.msg, n, MaxMessageSize)
	}
	return w.b, nil
}

// reader consumes fields from a message and remembers the first error.
// After an error every method returns a zero value.
type reader struct {
	b   []byte
	msg string // message name, for errors
	err error
}

func (r *reader) fail(field, why string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s: %s", ErrMalformed, r.msg, field, why)
		r.b = nil
	}
}

func (r *reader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(field, "truncated")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1(field string) byte {
	if v := r.bytes(field, 1); v != nil {
		return v[0]
	}
	return 0
}

// uvarint reads a minimally encoded uvarint, so that every value has exactly
// one encoding.
func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.fail(field, "truncated")
		return 0
	case n < 0:
		r.fail(field, "varint overflows 64 bits")
		return 0
	case n > 1 && r.b[n-1] == 0:
		r.fail(field, "non-minimal varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(field string) int64 {
	ux := r.uvarint(field)
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

// bounded reads a uvarint no larger than max.
func (r *reader) bounded(field string, max uint64) uint64 {
	v := r.uvarint(field)
	if v > max {
		r.fail(field, fmt.Sprintf("%d exceeds %d", v, max))
		return 0
	}
	return v
}

func (r *reader) nonNeg(field string) int { return int(r.bounded(field, math.MaxInt32)) }

func (r *reader) int32v(field string) int {
	v := r.varint(field)
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(field, fmt.Sprintf("%d out of range", v))
		return 0
	}
	return int(v)
}

func (r *reader) str(field string, max int) string {
	n := r.bounded(field, uint64(max))
	return string(r.bytes(field, int(n)))
}

func (r *reader) duration(field string) time.Duration {
	return time.Duration(r.bounded(field, math.MaxInt64))
}

func (r *reader) time(field string) time.Time {
	sec := r.varint(field)
	nsec := r.uvarint(field)
	switch {
	case r.err != nil:
		return time.Time{}
	case sec < minUnix || sec > maxUnix:
		r.fail(field, "time outside years 1 to 9999")
		return time.Time{}
	case nsec >= uint64(time.Second):
		r.fail(field, "nanoseconds out of range")
		return time.Time{}
	case sec == minUnix && nsec == 0:
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

func (r *reader) op(field string) proto.Opcode {
	op := proto.Opcode(r.byte1(field))
	if r.err == nil && op != proto.OpRRQ && op != proto.OpWRQ {
		r.fail(field, fmt.Sprintf("%v is neither RRQ nor WRQ", op))
	}
	return op
}

func (r *reader) mode(field string) proto.Mode {
	m := proto.Mode(r.byte1(field))
	if r.err == nil && m != proto.ModeOctet && m != proto.ModeNetascii {
		r.fail(field, fmt.Sprintf("unknown mode %d", m))
	}
	return m
}

func (r *reader) options(field string) []proto.Option {
	n := int(r.bounded(field, MaxOptions))
	if n == 0 || r.err != nil {
		return nil
	}
	opts := make([]proto.Option, 0, n)
	for range n {
		o := proto.Option{Name: r.str(field, MaxStringLen), Value: r.str(field, MaxStringLen)}
		if r.err != nil {
			return nil
		}
		if o.Name == "" {
			r.fail(field, "empty option name")
			return nil
		}
		opts = append(opts, o)
	}
	return opts
}

func (r *reader) strings(field string, max int) []string {
	n := int(r.bounded(field, uint64(max)))
	if n == 0 || r.err != nil {
		return nil
	}
	ss := make([]string, 0, n)
	for range n {
		ss = append(ss, r.str(field, MaxStringLen))
	}
	if r.err != nil {
		return nil
	}
	return ss
}

func (r *reader) addr(field string, required bool) netip.AddrPort {
	var a netip.Addr
	switch tag := r.byte1(field); {
	case r.err != nil:
		return netip.AddrPort{}
	case tag == addrNone:
		if required {
			r.fail(field, "missing address")
		}
		return netip.AddrPort{}
	case tag == addr4:
		b := r.bytes(field, 4)
		if r.err != nil {
			return netip.AddrPort{}
		}
		a = netip.AddrFrom4([4]byte(b))
	case tag == addr6:
		b := r.bytes(field, 16)
		if r.err != nil {
			return netip.AddrPort{}
		}
		a = netip.AddrFrom16([16]byte(b))
		if a.Is4In6() {
			r.fail(field, "IPv4-mapped IPv6 address")
			return netip.AddrPort{}
		}
		if zone := r.str(field, maxZoneLen); zone != "" {
			a = a.WithZone(zone)
		}
	default:
		r.fail(field, fmt.Sprintf("unknown address tag %d", tag))
		return netip.AddrPort{}
	}
	port := r.bytes(field, 2)
	if r.err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(port))
}

// done reports the first error, or trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("end", fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}

// start checks the size and type byte of a message.
func (r *reader) start(typ byte) {
	switch {
	case len(r.b) > MaxMessageSize:
		r.fail("size", fmt.Sprintf("%d bytes, at most %d allowed", len(r.b), MaxMessageSize))
	case len(r.b) == 0:
		r.fail("type", "empty message")
	case r.b[0] != typ:
		r.fail("type", fmt.Sprintf("got message type %d, want %d", r.b[0], typ))
	default:
		r.b = r.b[1:]
	}
}
