package proto

import "github.com/fbtftp-go/fbtftp/tftp"

// ErrorCode is the code carried by an ERROR packet (package tftp's).
type ErrorCode = tftp.ErrorCode

// The TFTP error codes, under the names the wire code uses.
const (
	ErrUndefined       = tftp.CodeUndefined
	ErrNotFound        = tftp.CodeNotFound
	ErrAccessViolation = tftp.CodeAccessViolation
	ErrDiskFull        = tftp.CodeDiskFull
	ErrIllegalOp       = tftp.CodeIllegalOp
	ErrUnknownTID      = tftp.CodeUnknownTID
	ErrFileExists      = tftp.CodeFileExists
	ErrNoSuchUser      = tftp.CodeNoSuchUser
	ErrOptionRefused   = tftp.CodeOptionRefused
)
