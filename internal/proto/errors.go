package proto

import "fmt"

// ErrorCode is the code carried by an ERROR packet (RFC 1350 Appendix,
// RFC 2347 for code 8).
type ErrorCode uint16

// The TFTP error codes.
const (
	ErrUndefined       ErrorCode = 0 // not defined, see error message
	ErrNotFound        ErrorCode = 1 // file not found
	ErrAccessViolation ErrorCode = 2 // access violation
	ErrDiskFull        ErrorCode = 3 // disk full or allocation exceeded
	ErrIllegalOp       ErrorCode = 4 // illegal TFTP operation
	ErrUnknownTID      ErrorCode = 5 // unknown transfer ID
	ErrFileExists      ErrorCode = 6 // file already exists
	ErrNoSuchUser      ErrorCode = 7 // no such user
	ErrOptionRefused   ErrorCode = 8 // option negotiation refused (RFC 2347)
)

var codeText = [...]string{
	ErrUndefined:       "Undefined error code",
	ErrNotFound:        "File not found",
	ErrAccessViolation: "Access violation",
	ErrDiskFull:        "Disk full or allocation exceeded",
	ErrIllegalOp:       "Illegal TFTP operation",
	ErrUnknownTID:      "Unknown transfer ID",
	ErrFileExists:      "File already exists",
	ErrNoSuchUser:      "No such user",
	ErrOptionRefused:   "Failure to negotiate RFC2347 options",
}

// String returns the RFC meaning of the code (the texts tftpd-hpa sends).
func (c ErrorCode) String() string {
	if int(c) < len(codeText) {
		return codeText[c]
	}
	return fmt.Sprintf("error code %d", uint16(c))
}

// Error is an error that carries a TFTP error code and the message to put
// on the wire. The transfer engine sends it as an ERROR packet.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// TFTPError returns the code and wire message; other packages' error types
// implement the same method to be sent as ERROR packets.
func (e *Error) TFTPError() (ErrorCode, string) { return e.Code, e.Message }
