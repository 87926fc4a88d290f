package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/fbtftp-go/fbtftp/tftp"
)

// Opcode, Mode and Option are the public vocabulary's (package tftp).
type (
	Opcode = tftp.Opcode
	Mode   = tftp.Mode
	Option = tftp.Option
)

// The TFTP opcodes.
const (
	OpRRQ   = tftp.OpRRQ
	OpWRQ   = tftp.OpWRQ
	OpDATA  = tftp.OpDATA
	OpACK   = tftp.OpACK
	OpERROR = tftp.OpERROR
	OpOACK  = tftp.OpOACK
)

// The supported transfer modes.
const (
	ModeOctet    = tftp.ModeOctet
	ModeNetascii = tftp.ModeNetascii
)

// Limits on what the parser accepts. They bound memory and work per packet;
// a request that exceeds one is malformed.
const (
	// MaxPacketSize is the largest UDP payload over IPv4 (65535 - 20 - 8).
	// Requests of any size up to this are accepted (not only 512 bytes).
	MaxPacketSize = 65507
	// MaxFilenameLen bounds a request's filename. PATH_MAX on Linux is 4096;
	// nothing longer can name a file anyway.
	MaxFilenameLen = 4096
	// MaxOptions bounds the number of option name/value pairs in a request
	// or OACK. Known options number seven; 32 leaves room for vendor ones.
	MaxOptions = 32
	// MaxOptionLen bounds each option name and each option value.
	MaxOptionLen = 255
	// MaxErrorMessageLen bounds the message of an ERROR packet we parse.
	MaxErrorMessageLen = 512
	// HeaderLen is the size of a DATA packet's header (opcode + block).
	HeaderLen = 4
	// DefaultBlksize is the RFC 1350 block size.
	DefaultBlksize = 512
)

// Parse errors. Every one wraps ErrMalformed so callers can test for it.
var (
	ErrMalformed     = errors.New("malformed packet")
	errShort         = fmt.Errorf("%w: too short", ErrMalformed)
	errNoNUL         = fmt.Errorf("%w: missing NUL terminator", ErrMalformed)
	errFilenameLen   = fmt.Errorf("%w: filename too long", ErrMalformed)
	errEmptyFilename = fmt.Errorf("%w: empty filename", ErrMalformed)
	errTooMany       = fmt.Errorf("%w: too many options", ErrMalformed)
	errOptionLen     = fmt.Errorf("%w: option too long", ErrMalformed)
	errOddOptions    = fmt.Errorf("%w: option without value", ErrMalformed)
	errEmptyOption   = fmt.Errorf("%w: empty option name", ErrMalformed)
	errOpcode        = fmt.Errorf("%w: unexpected opcode", ErrMalformed)
	errTooLong       = fmt.Errorf("%w: packet too long", ErrMalformed)
)

// ErrUnknownMode is returned by ParseRequest for a well-formed request whose
// mode is neither "octet" nor "netascii" (for example RFC 1350's "mail").
// The request is still returned; the caller answers ERROR 4.
var ErrUnknownMode = errors.New("unknown transfer mode")

// Request is a parsed RRQ or WRQ.
//
//	 2 bytes  string   1 byte  string  1 byte  string  1 byte  string  1 byte
//	+-------+---~~---+------+---~~---+------+---~~---+------+---~~---+------+ ...
//	| 01/02 |filename|  0   |  mode  |  0   |  opt1  |  0   | value1 |  0   |
//	+-------+---~~---+------+---~~---+------+---~~---+------+---~~---+------+
//
// Options are kept in the client's order (RFC 2347 §"Option Negotiation").
type Request struct {
	Op       Opcode
	Filename string
	Mode     Mode
	RawMode  string // the mode as sent
	Options  []Option
}

// Option returns the value of the first option named name (case-insensitive).
func (r *Request) Option(name string) (string, bool) {
	for _, o := range r.Options {
		if strings.EqualFold(o.Name, name) {
			return o.Value, true
		}
	}
	return "", false
}

// PeekOpcode returns the opcode of a packet without validating the rest.
func PeekOpcode(b []byte) (Opcode, bool) {
	if len(b) < 2 {
		return 0, false
	}
	return Opcode(binary.BigEndian.Uint16(b)), true
}

// cstring splits b at its first NUL: the string before it and the rest after.
func cstring(b []byte) (string, []byte, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, errNoNUL
	}
	return string(b[:i]), b[i+1:], nil
}

// parseOptions parses a NUL-terminated name/value list (RFC 2347).
func parseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for len(b) > 0 {
		if len(opts) == MaxOptions {
			return nil, errTooMany
		}
		name, rest, err := cstring(b)
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return nil, errOddOptions
		}
		value, rest, err := cstring(rest)
		if err != nil {
			return nil, errOddOptions
		}
		if name == "" {
			return nil, errEmptyOption
		}
		if len(name) > MaxOptionLen || len(value) > MaxOptionLen {
			return nil, errOptionLen
		}
		opts = append(opts, Option{Name: name, Value: value})
		b = rest
	}
	return opts, nil
}

// ParseRequest parses an RRQ or WRQ. A request whose mode is unknown is
// returned together with ErrUnknownMode so the caller can answer ERROR 4
// and log the filename. Any other error wraps ErrMalformed.
func ParseRequest(b []byte) (*Request, error) {
	op, ok := PeekOpcode(b)
	if !ok {
		return nil, errShort
	}
	if op != OpRRQ && op != OpWRQ {
		return nil, errOpcode
	}
	if len(b) > MaxPacketSize {
		return nil, errTooLong
	}
	name, rest, err := cstring(b[2:])
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errEmptyFilename
	}
	if len(name) > MaxFilenameLen {
		return nil, errFilenameLen
	}
	mode, rest, err := cstring(rest)
	if err != nil {
		return nil, err
	}
	if len(mode) > MaxOptionLen {
		return nil, errOptionLen
	}
	opts, err := parseOptions(rest)
	if err != nil {
		return nil, err
	}
	r := &Request{Op: op, Filename: name, RawMode: mode, Options: opts}
	switch {
	case strings.EqualFold(mode, "octet"):
		r.Mode = ModeOctet
	case strings.EqualFold(mode, "netascii"):
		r.Mode = ModeNetascii
	default:
		return r, ErrUnknownMode
	}
	return r, nil
}

// AppendRequest appends an RRQ or WRQ to b.
func AppendRequest(b []byte, op Opcode, filename, mode string, opts []Option) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(op))
	b = append(b, filename...)
	b = append(b, 0)
	b = append(b, mode...)
	b = append(b, 0)
	return appendOptions(b, opts)
}

func appendOptions(b []byte, opts []Option) []byte {
	for _, o := range opts {
		b = append(b, o.Name...)
		b = append(b, 0)
		b = append(b, o.Value...)
		b = append(b, 0)
	}
	return b
}

// Data is a parsed DATA packet. Payload aliases the parsed buffer.
//
//	 2 bytes  2 bytes   n bytes
//	+-------+--------+---~~---+
//	|  03   | block  |  data  |
//	+-------+--------+---~~---+
type Data struct {
	Block   uint16
	Payload []byte
}

// ParseData parses a DATA packet without copying its payload.
func ParseData(b []byte) (Data, error) {
	if len(b) < HeaderLen {
		return Data{}, errShort
	}
	if Opcode(binary.BigEndian.Uint16(b)) != OpDATA {
		return Data{}, errOpcode
	}
	return Data{Block: binary.BigEndian.Uint16(b[2:]), Payload: b[HeaderLen:]}, nil
}

// AppendData appends a DATA packet to b.
func AppendData(b []byte, block uint16, payload []byte) []byte {
	b = AppendDataHeader(b, block)
	return append(b, payload...)
}

// AppendDataHeader appends only the 4-byte DATA header, for callers that
// read the payload straight into the buffer after it.
func AppendDataHeader(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpDATA))
	return binary.BigEndian.AppendUint16(b, block)
}

// PutDataHeader writes a DATA header into b[0:4].
func PutDataHeader(b []byte, block uint16) {
	binary.BigEndian.PutUint16(b, uint16(OpDATA))
	binary.BigEndian.PutUint16(b[2:], block)
}

// ParseAck parses an ACK and returns its block number.
//
//	 2 bytes  2 bytes
//	+-------+--------+
//	|  04   | block  |
//	+-------+--------+
//
// Trailing bytes are tolerated (some clients pad ACKs); they are ignored.
func ParseAck(b []byte) (uint16, error) {
	if len(b) < 4 {
		return 0, errShort
	}
	if Opcode(binary.BigEndian.Uint16(b)) != OpACK {
		return 0, errOpcode
	}
	return binary.BigEndian.Uint16(b[2:]), nil
}

// AppendAck appends an ACK to b.
func AppendAck(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpACK))
	return binary.BigEndian.AppendUint16(b, block)
}

// ErrorPacket is a parsed ERROR packet.
//
//	 2 bytes  2 bytes    string  1 byte
//	+-------+---------+---~~---+------+
//	|  05   |  code   | errmsg |  0   |
//	+-------+---------+---~~---+------+
type ErrorPacket struct {
	Code    ErrorCode
	Message string
}

// ParseError parses an ERROR packet. A missing final NUL is tolerated
// (several clients omit it); the message is cut at MaxErrorMessageLen.
func ParseError(b []byte) (ErrorPacket, error) {
	if len(b) < 4 {
		return ErrorPacket{}, errShort
	}
	if Opcode(binary.BigEndian.Uint16(b)) != OpERROR {
		return ErrorPacket{}, errOpcode
	}
	msg := b[4:]
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > MaxErrorMessageLen {
		msg = msg[:MaxErrorMessageLen]
	}
	return ErrorPacket{Code: ErrorCode(binary.BigEndian.Uint16(b[2:])), Message: string(msg)}, nil
}

// AppendError appends an ERROR packet to b. An empty message is replaced
// by the code's RFC text.
func AppendError(b []byte, code ErrorCode, msg string) []byte {
	if msg == "" {
		msg = code.String()
	}
	b = binary.BigEndian.AppendUint16(b, uint16(OpERROR))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	b = append(b, msg...)
	return append(b, 0)
}

// ParseOACK parses an OACK's option list (RFC 2347).
//
//	+-------+---~~---+---+---~~---+---+---~~---+---+---~~---+---+
//	|  06   |  opt1  | 0 | value1 | 0 |  optN  | 0 | valueN | 0 |
//	+-------+---~~---+---+---~~---+---+---~~---+---+---~~---+---+
func ParseOACK(b []byte) ([]Option, error) {
	op, ok := PeekOpcode(b)
	if !ok {
		return nil, errShort
	}
	if op != OpOACK {
		return nil, errOpcode
	}
	if len(b) > MaxPacketSize {
		return nil, errTooLong
	}
	return parseOptions(b[2:])
}

// AppendOACK appends an OACK carrying opts to b.
func AppendOACK(b []byte, opts []Option) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpOACK))
	return appendOptions(b, opts)
}
