package tftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Error is an error with a TFTP code: the ERROR packet a session ends
// with. A Handler returns one to choose what the client gets; the engine
// returns one with Remote set when the peer sent an ERROR.
//
// Message is what goes on the wire (the code's standard text when empty).
// Err, the cause, is for logs only and never sent: internal details (paths,
// addresses, system errors) stay on the server.
type Error struct {
	Code    ErrorCode
	Message string // sent to the client; Code.String() when empty
	Remote  bool   // the peer sent this ERROR (it was received, not sent)
	Err     error  // the cause, for logs only
}

// Sentinel errors with the standard texts, for errors.Is (which compares
// codes only, see Error.Is); a Handler may return them as they are.
var (
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrAccessViolation = &Error{Code: CodeAccessViolation}
	ErrDiskFull        = &Error{Code: CodeDiskFull}
	ErrIllegalOp       = &Error{Code: CodeIllegalOp}
	ErrFileExists      = &Error{Code: CodeFileExists}
	ErrOptionRefused   = &Error{Code: CodeOptionRefused}
)

// Error returns the wire message and the cause, or for a Remote error what
// the peer sent.
func (e *Error) Error() string {
	msg := e.Text()
	if e.Remote {
		return fmt.Sprintf("peer sent error %d: %q", uint16(e.Code), e.Message)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Text returns the message sent on the wire: Message, or the code's
// standard text when Message is empty.
func (e *Error) Text() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, tftp.ErrNotFound) matches any "not found" error, whatever
// its message, sent or received.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Messages WireError sends for errors without a code of their own.
const (
	msgServerError = "server error"
	msgTimedOut    = "timed out"
)

// WireError returns the code and message of the ERROR packet that reports
// err to a client. It is the one mapping from Go errors to the wire:
//
//   - an *Error (also wrapped, found with errors.As): its Code and Text;
//   - fs.ErrNotExist: 1 "File not found";
//   - fs.ErrPermission (EACCES, EPERM): 2 "Access violation";
//   - ENOSPC, EDQUOT, EFBIG: 3 "Disk full or allocation exceeded";
//   - context.DeadlineExceeded, os.ErrDeadlineExceeded: 0 "timed out";
//   - anything else: 0 "server error", so that internal details never
//     reach the wire (log err instead).
func WireError(err error) (ErrorCode, string) {
	if e := (*Error)(nil); errors.As(err, &e) {
		return e.Code, e.Text()
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return CodeNotFound, CodeNotFound.String()
	case errors.Is(err, fs.ErrPermission):
		return CodeAccessViolation, CodeAccessViolation.String()
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return CodeDiskFull, CodeDiskFull.String()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return CodeUndefined, msgTimedOut
	}
	return CodeUndefined, msgServerError
}
