package fbtftp

import (
	"errors"
	"io/fs"

	"github.com/fbtftp-go/fbtftp/internal/proto"
)

// ErrorCode is a TFTP error code (RFC 1350 Appendix, RFC 2347).
type ErrorCode = proto.ErrorCode

// The TFTP error codes.
const (
	CodeUndefined       = proto.ErrUndefined
	CodeNotFound        = proto.ErrNotFound
	CodeAccessViolation = proto.ErrAccessViolation
	CodeDiskFull        = proto.ErrDiskFull
	CodeIllegalOp       = proto.ErrIllegalOp
	CodeUnknownTID      = proto.ErrUnknownTID
	CodeFileExists      = proto.ErrFileExists
	CodeNoSuchUser      = proto.ErrNoSuchUser
	CodeOptionRefused   = proto.ErrOptionRefused
)

// Error is an error with a TFTP code. A Handler returns one to choose the
// ERROR packet the client gets: Message goes on the wire, Err stays in the
// logs. Remote marks an error the client sent.
type Error struct {
	Code    ErrorCode
	Message string // sent to the client; the code's RFC text when empty
	Remote  bool   // the peer sent this error
	Err     error  // the cause, for logs only
}

// Sentinel errors for errors.Is; a Handler may return them directly.
var (
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrAccessViolation = &Error{Code: CodeAccessViolation}
	ErrDiskFull        = &Error{Code: CodeDiskFull}
	ErrIllegalOp       = &Error{Code: CodeIllegalOp}
	ErrFileExists      = &Error{Code: CodeFileExists}
)

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.String()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so
// errors.Is(err, fbtftp.ErrNotFound) matches any "not found" error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// TFTPError returns the code and message sent to the client.
func (e *Error) TFTPError() (ErrorCode, string) {
	if e.Message == "" {
		return e.Code, e.Code.String()
	}
	return e.Code, e.Message
}

// WireError maps any error a Handler returns to the ERROR packet sent:
// an *Error (or anything with a TFTPError method) gives its own code and
// message, fs.ErrNotExist gives 1 "File not found", fs.ErrPermission gives
// 2 "Access violation", and anything else 0 with a generic text, so that
// internal details never reach the wire.
func WireError(err error) (ErrorCode, string) {
	var c interface {
		TFTPError() (proto.ErrorCode, string)
	}
	switch {
	case errors.As(err, &c):
		return c.TFTPError()
	case errors.Is(err, fs.ErrNotExist):
		return CodeNotFound, CodeNotFound.String()
	case errors.Is(err, fs.ErrPermission):
		return CodeAccessViolation, CodeAccessViolation.String()
	}
	return CodeUndefined, "server error"
}
