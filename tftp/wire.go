package tftp

import "fmt"

// Opcode is the first 16-bit field of every TFTP packet (RFC 1350 §5,
// RFC 2347 for OACK). A request is an RRQ or a WRQ.
type Opcode uint16

// The TFTP opcodes.
const (
	OpRRQ   Opcode = 1 // read request (download)
	OpWRQ   Opcode = 2 // write request (upload)
	OpDATA  Opcode = 3 // data block
	OpACK   Opcode = 4 // acknowledgement
	OpERROR Opcode = 5 // error
	OpOACK  Opcode = 6 // option acknowledgement (RFC 2347)
)

// String returns the opcode's conventional name ("RRQ", "WRQ"...), or
// "opcode(N)".
func (o Opcode) String() string {
	switch o {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	case OpDATA:
		return "DATA"
	case OpACK:
		return "ACK"
	case OpERROR:
		return "ERROR"
	case OpOACK:
		return "OACK"
	}
	return fmt.Sprintf("opcode(%d)", uint16(o))
}

// Mode is a transfer mode (RFC 1350 §1). RFC 1350's "mail" is not
// supported: such a request is answered ERROR 4.
type Mode uint8

// The supported transfer modes.
const (
	// ModeOctet transfers the bytes as they are.
	ModeOctet Mode = iota
	// ModeNetascii converts line ends: LF to CR LF and CR to CR NUL on
	// the wire, and back on receipt.
	ModeNetascii
)

// String returns "octet" or "netascii".
func (m Mode) String() string {
	if m == ModeNetascii {
		return "netascii"
	}
	return "octet"
}

// Option is one option name/value pair of a request or an OACK (RFC 2347).
// Names keep the client's spelling; compare them with strings.EqualFold.
type Option struct {
	Name  string
	Value string
}

// ErrorCode is the code of an ERROR packet (RFC 1350 Appendix; code 8 is
// RFC 2347's).
type ErrorCode uint16

// The TFTP error codes.
const (
	CodeUndefined       ErrorCode = 0 // not defined, see the message
	CodeNotFound        ErrorCode = 1 // file not found
	CodeAccessViolation ErrorCode = 2 // access violation
	CodeDiskFull        ErrorCode = 3 // disk full or allocation exceeded
	CodeIllegalOp       ErrorCode = 4 // illegal TFTP operation
	CodeUnknownTID      ErrorCode = 5 // unknown transfer ID
	CodeFileExists      ErrorCode = 6 // file already exists
	CodeNoSuchUser      ErrorCode = 7 // no such user
	CodeOptionRefused   ErrorCode = 8 // option negotiation refused (RFC 2347)
)

var codeText = [...]string{
	CodeUndefined:       "Undefined error code",
	CodeNotFound:        "File not found",
	CodeAccessViolation: "Access violation",
	CodeDiskFull:        "Disk full or allocation exceeded",
	CodeIllegalOp:       "Illegal TFTP operation",
	CodeUnknownTID:      "Unknown transfer ID",
	CodeFileExists:      "File already exists",
	CodeNoSuchUser:      "No such user",
	CodeOptionRefused:   "Failure to negotiate RFC2347 options",
}

// String returns the code's standard text, the message tftpd-hpa sends
// with it ("File not found"), or "error code N" for a code beyond 8.
func (c ErrorCode) String() string {
	if int(c) < len(codeText) {
		return codeText[c]
	}
	return fmt.Sprintf("error code %d", uint16(c))
}
